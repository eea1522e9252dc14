import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { execa, execaSync, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { CLI, backupctl, expectOneLineError, programBaseEnv, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { decodedPayloads } from '../helpers/histories.js';
import { startPasswordCluster, type PasswordCluster } from '../helpers/password-cluster.js';
import { dropDatabase, withClient } from '../helpers/postgres.js';
import { freePort } from '../helpers/ports.js';
import { parentOf } from '../helpers/processes.js';
import { servicesEnv, testEnv, uniqueName } from '../helpers/services.js';

// Fault 10: no secret (the database password, the S3 secret key, the key's passphrase, and the wrong
// values of each that the failures below use) shows in a workflow history, the worker's log, an
// error message, /metrics, or the command line or environment of a tool the worker runs, on success
// and on each failure: a wrong database password, a wrong S3 secret key, a wrong passphrase.

const DB_PASSWORD = 'fault10-db-password-Xk3q';
const PASSPHRASE = 'fault10-passphrase-Zq7w';
const WRONG_DB_PASSWORD = 'fault10-wrong-db-password-Jw2e';
const WRONG_S3_SECRET = 'fault10-wrong-s3-secret-Vb9r';
const WRONG_PASSPHRASE = 'fault10-wrong-passphrase-Hd4t';
const TOOLS = ['pg_dump', 'pg_restore', 'psql', 'gpg', 'zstd'];

interface SeenProcess {
  cmdline: string;
  environ: string;
}

/** The tools the worker runs now, as ps and /proc show them: its children whose command line names one. */
function toolsOf(pid: number): SeenProcess[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((child) => {
      try {
        if (parentOf(Number(child)) !== pid) return [];
        const cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (!TOOLS.some((tool) => cmdline.includes(tool))) return [];
        return [{ cmdline, environ: readFileSync(`/proc/${child}/environ`, 'utf8') }];
      } catch {
        return []; // ended meanwhile
      }
    });
}

/**
 * A folder for the front of the worker's PATH where each tool is a script that records its arguments
 * and environment, then runs the real tool: every run, however short (gpg --version), is on record.
 */
function recordingTools(): { dir: string; calls: () => SeenProcess[] } {
  const dir = tempDir('fault10-tools');
  const log = tempDir('fault10-calls');
  for (const tool of TOOLS) {
    const real = execaSync('sh', ['-c', `command -v ${tool}`]).stdout.trim();
    const script = `#!/bin/sh\n{ printf '%s\\0' "$0" "$@"; printf '\\n'; env -0; } > "$(mktemp ${log}/call.XXXXXX)"\nexec ${real} "$@"\n`;
    writeFileSync(join(dir, tool), script, { mode: 0o755 });
  }
  const calls = () =>
    readdirSync(log).map((file) => {
      const text = readFileSync(join(log, file), 'utf8');
      const split = text.indexOf('\n');
      return { cmdline: text.slice(0, split).replaceAll('\0', ' '), environ: text.slice(split + 1) };
    });
  return { dir, calls };
}

describe('secrets under success and failure (fault 10)', () => {
  const source = uniqueName('fault10_src');
  const target = uniqueName('fault10_restored');
  const queue = uniqueName('fault10');
  let metricsPort: number;
  let cluster: PasswordCluster;
  let keyring: TestKeyring;
  let env: Record<string, string>;
  let worker: ResultPromise;
  let client: Client;
  let tools: ReturnType<typeof recordingTools>;
  let configFile: string;
  const runs: CliRun[] = [];
  let secrets: string[];

  /** DB_NAME of each database in the config file, by the secret that is wrong for it. */
  const names = { ok: source, badpw: 'postgres', bads3: `${source}_s3`, badpass: target };
  const cli = async (database: keyof typeof names, args: string[]): Promise<CliRun> => {
    const run = await backupctl(['--config', configFile, '--database', names[database], ...args], env);
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    metricsPort = await freePort();
    cluster = await startPasswordCluster(DB_PASSWORD);
    const server = { port: cluster.port, password: DB_PASSWORD };
    for (const name of [source, `${source}_s3`]) {
      await withClient('postgres', (c) => c.query(`CREATE DATABASE "${name}"`), server);
      await withClient(
        name,
        (c) => c.query('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 2000) g'),
        server,
      );
    }
    keyring = await createKeyring('default', PASSPHRASE);
    const services = servicesEnv();
    secrets = [
      DB_PASSWORD,
      PASSPHRASE,
      WRONG_DB_PASSWORD,
      WRONG_S3_SECRET,
      WRONG_PASSPHRASE,
      services.S3_SECRET_KEY!,
      services.S3_ACCESS_KEY!,
    ];
    const cluster_ = { DB_HOST: '127.0.0.1', DB_PORT: String(cluster.port), DB_USER: 'postgres' };
    // One worker serves four databases, each with its own (right or wrong) secrets.
    configFile = join(tempDir('fault10'), 'databases.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        defaults: {
          BACKUP_DIR: tempDir('fault10-backups'),
          S3_PREFIX: `${uniqueName('fault10')}/`,
          TEMPORAL_TASK_QUEUE: queue,
          GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
          GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
          GPG_PASSPHRASE: PASSPHRASE,
          METRICS_PORT: String(metricsPort),
        },
        databases: {
          ok: { DB_NAME: names.ok, ...cluster_, DB_PASSWORD },
          badpw: { DB_NAME: names.badpw, ...cluster_, DB_PASSWORD: WRONG_DB_PASSWORD },
          bads3: { DB_NAME: names.bads3, ...cluster_, DB_PASSWORD, S3_SECRET_KEY: WRONG_S3_SECRET },
          badpass: { DB_NAME: names.badpass, GPG_PASSPHRASE: WRONG_PASSPHRASE },
        },
      }),
    );
    env = testEnv({});
    tools = recordingTools();
    worker = execa(process.execPath, [CLI, '--config', configFile, 'worker'], {
      env: { ...programBaseEnv(`${tools.dir}:${process.env.PATH ?? ''}`), ...env },
      extendEnv: false,
      reject: false,
      all: true,
    });
    client = await connectClient(loadConfig({ env: { ...env, DB_NAME: source } }).temporal);
    // The worker is up once it serves /metrics (it does so before it polls).
    for (let tries = 0; tries < 120; tries++) {
      if (
        await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 250));
    }
  });

  afterAll(async () => {
    worker?.kill('SIGTERM');
    await worker;
    await client?.connection.close();
    await cluster?.stop();
    await dropDatabase(target);
  });

  it('keeps the password out of pg_dump’s command line, and every other secret out of its environment', async () => {
    // pg_dump waits on a table lock while we look at it.
    const server = { port: cluster.port, password: DB_PASSWORD };
    await withClient(
      source,
      async (c) => {
        await c.query('BEGIN');
        await c.query('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
        const backup = cli('ok', ['backup', '--wait']);
        let dumps: SeenProcess[] = [];
        for (let tries = 0; dumps.length === 0 && tries < 300; tries++) {
          dumps = toolsOf(worker.pid!).filter((p) => p.cmdline.includes('pg_dump --'));
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(dumps).toHaveLength(1);
        for (const secret of secrets) expect(dumps[0]!.cmdline).not.toContain(secret);
        expect(dumps[0]!.environ.split('\0')).toContain(`PGPASSWORD=${DB_PASSWORD}`);
        for (const secret of secrets.filter((s) => s !== DB_PASSWORD))
          expect(dumps[0]!.environ).not.toContain(secret);
        await c.query('COMMIT');
        const run = await backup;
        expect(run.exitCode, run.stderr).toBe(0);
      },
      server,
    );
  });

  it('restores with the passphrase (gpg, pg_restore) and fails cleanly on each wrong secret', async () => {
    const key = JSON.parse((await cli('ok', ['list', '--json'])).stdout)[0].manifest.file.key as string;
    const restored = await cli('ok', [
      'restore',
      '--s3-key',
      key,
      '--target-db',
      target,
      '--create-db',
      '--force',
      '--wait',
    ]);
    expect(restored.exitCode, restored.stderr).toBe(0);

    expectOneLineError(await cli('badpw', ['backup', '--wait']), 4, /password authentication failed/);
    expectOneLineError(
      await cli('bads3', ['backup', '--wait']),
      6,
      /SignatureDoesNotMatch|InvalidAccessKeyId|denied/,
    );
    const wrongPassphrase = await cli('badpass', [
      'restore',
      '--s3-key',
      key,
      '--target-db',
      uniqueName('fault10_never'),
      '--create-db',
      '--force',
      '--wait',
    ]);
    expectOneLineError(wrongPassphrase, 3, /GPG_PASSPHRASE does not unlock the key/);
  });

  it('shows no secret in histories, logs, messages, /metrics or the tools’ command lines and environments', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('postgres_backup_run_failures_total');

    const ids = runs.flatMap((r) => [...r.stderr.matchAll(/^started (\S+)$/gm)].map((m) => m[1]!));
    expect(ids.length).toBe(5); // backup, restore, and the three failures
    const histories: string[] = [];
    for (const id of ids) {
      const history = JSON.stringify((await client.workflow.getHandle(id).fetchHistory()).events);
      histories.push(history, ...decodedPayloads(history));
    }
    expect(histories.join('\n')).toContain('password authentication failed');

    worker.kill('SIGTERM');
    const log = (await worker).all;
    expect(log).toContain('worker polling');

    const messages = runs.map((r) => `${r.stdout}\n${r.stderr}`);
    for (const [where, text] of [
      ['metrics', metrics],
      ['worker log', log],
      ['CLI output', messages.join('\n')],
      ['workflow histories', histories.join('\n')],
    ] as const) {
      for (const secret of secrets) expect(text, `${where} shows a secret`).not.toContain(secret);
    }

    // Every run of a tool, as it recorded itself: pg_dump, zstd (the default compression), pg_restore
    // and gpg all ran (psql runs only for RESTORE_VERIFY_SQL_FILE, and is watched all the same).
    const calls = tools.calls();
    for (const tool of ['pg_dump', 'zstd', 'pg_restore', 'gpg'])
      expect(
        calls.some((p) => p.cmdline.includes(`/${tool} `)),
        tool,
      ).toBe(true);
    for (const p of calls) {
      for (const secret of secrets) expect(p.cmdline, p.cmdline).not.toContain(secret);
      const environ = p.environ.split('\0');
      expect(
        environ.some((v) => v.startsWith('PATH=')),
        p.cmdline,
      ).toBe(true);
      for (const secret of secrets) {
        // Only the password, to the PostgreSQL tools, through PGPASSWORD.
        const allowed = (v: string) => secret === DB_PASSWORD && v === `PGPASSWORD=${DB_PASSWORD}`;
        expect(
          environ.filter((v) => v.includes(secret) && !allowed(v)),
          p.cmdline,
        ).toEqual([]);
      }
      if (p.cmdline.includes('gpg')) expect(p.environ).not.toContain('PGPASSWORD');
    }
  });
});
