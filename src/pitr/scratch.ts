import { existsSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import pg from 'pg';
import { BackupError } from '../core/errors.js';
import { stanzaPaths } from '../core/pitr.js';
import { toolEnv } from '../process/env.js';
import { ownerIds, runPgBackRest, type PgBackRest } from './pgbackrest.js';
import {
  postmasterPid,
  SCRATCH_PREFIX,
  stopServer,
  sweepScratchLeftovers,
  writeMarker,
  type SweptScratch,
} from './scratch-leftovers.js';

// The scratch primitive (docs/pitr.md): pgbackrest restore into a folder of its own on this host,
// a temporary server on a socket only in that folder, recovered to a moment and promoted; then
// stopped and removed, whatever happened. Its postgresql settings forbid archiving: a scratch
// server never pushes WAL into the repository its own cluster archives to.

/** The socket's port number: the server listens in a private folder only, no TCP port is bound. */
const SCRATCH_PORT = 5432;

export interface ScratchOptions {
  br: PgBackRest;
  /** PITR_CONFIG_DIR: the scratch folders go in the stanza's folder there, which its user owns. */
  configDir: string;
  owner: { workflowId: string; runId?: string };
  /** ISO moment to recover to; the end of the archive when left out. */
  target?: string;
  /** pgBackRest's backup set (its label), as the plan chose it; pgBackRest chooses when left out. */
  set?: string;
  signal?: AbortSignal;
  /** Called every second or so while the restore and recovery run. */
  progress?: (step: ScratchStep) => void;
  /** How long recovery may take once the server runs; 1 h by default. */
  recoveryTimeoutMs?: number;
  /** More postgresql.conf lines for the scratch server (tests hold recovery with them). */
  extraSettings?: Record<string, string>;
}

export type ScratchStep =
  | { step: 'swept'; dir: string; workflowId?: string }
  | { step: 'restoring' }
  | { step: 'recovering'; elapsedMs: number }
  | { step: 'promoted'; recoveredTo?: string };

/** A recovered, promoted scratch server. */
export interface Scratch {
  dir: string;
  dataDir: string;
  /** The socket folder: the host for pg_dump, psql and node-postgres. */
  socketDir: string;
  port: number;
  /** The OS user it runs as, and the role to connect as (trust on the private socket). */
  user: string;
  /** The time of the last transaction recovery replayed (pg_last_xact_replay_timestamp). */
  recoveredTo?: string;
  restoreMs: number;
  recoveryMs: number;
  /** Stops the server and removes the folder; safe to call twice. */
  remove(): Promise<void>;
}

export function scratchRoot(configDir: string, stanza: string): string {
  return join(stanzaPaths(configDir, stanza).stateDir, 'scratch');
}

/** Removes what killed workers left under this stanza's scratch root (see sweepScratchLeftovers). */
export async function sweepScratch(br: PgBackRest, configDir: string): Promise<SweptScratch[]> {
  return sweepScratchLeftovers(
    scratchRoot(configDir, br.stanza),
    (dataDir) => pgBin(dataDir, 'pg_ctl'),
    br.user,
  );
}

/**
 * Restores into a new scratch folder, starts a server there and waits until recovery reached the
 * target and the server was promoted. On failure or cancel, everything it made is removed before it
 * throws; on success the caller removes it (Scratch.remove) when done with it.
 */
export async function recoverScratch(options: ScratchOptions): Promise<Scratch> {
  const { br } = options;
  const root = scratchRoot(options.configDir, br.stanza);
  for (const left of await sweepScratch(br, options.configDir))
    options.progress?.({ step: 'swept', ...left });
  const owner = await ownerIds(br.user);
  await mkdir(root, { recursive: true, mode: 0o700 });
  if (owner) await chown(root, owner.uid, owner.gid);
  const dir = await mkdtemp(join(root, SCRATCH_PREFIX));
  // A socket's path is at most 107 bytes: its folder is a short one in the temporary folder.
  const socketDir = await mkdtemp(join(tmpdir(), `pg${SCRATCH_PREFIX}`));
  await writeMarker(dir, options.owner, socketDir);
  const dataDir = join(dir, 'data');
  let pgCtl: string | undefined;
  const remove = async () => {
    if (pgCtl) await stopServer(pgCtl, dataDir, br.user);
    else if (postmasterPid(dataDir)) await stopServer(await pgBin(dataDir, 'pg_ctl'), dataDir, br.user);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    await rm(socketDir, { recursive: true, force: true });
  };
  try {
    await mkdir(dataDir, { mode: 0o700 });
    await chmod(socketDir, 0o700);
    if (owner) for (const d of [dir, dataDir, socketDir]) await chown(d, owner.uid, owner.gid);
    options.progress?.({ step: 'restoring' });
    const restoreStarted = Date.now();
    await runPgBackRest(br, 'restore', restoreArgs(dataDir, options), { signal: options.signal });
    const restoreMs = Date.now() - restoreStarted;
    await writeScratchSettings(dir, socketDir, dataDir, options.extraSettings ?? {}, owner);
    pgCtl = await pgBin(dataDir, 'pg_ctl');
    const recoveryStarted = Date.now();
    await runAs(br.user, pgCtl, ['-D', dataDir, '-l', join(dir, 'server.log'), '-W', 'start']);
    const recoveredTo = await waitForPromotion(dir, socketDir, dataDir, br.user, options, recoveryStarted);
    options.progress?.({ step: 'promoted', recoveredTo });
    return {
      dir,
      dataDir,
      socketDir,
      port: SCRATCH_PORT,
      user: br.user,
      recoveredTo,
      restoreMs,
      recoveryMs: Date.now() - recoveryStarted,
      remove,
    };
  } catch (error) {
    await remove().catch(() => undefined);
    throw error;
  }
}

function restoreArgs(dataDir: string, options: ScratchOptions): string[] {
  // Tablespaces into the scratch folder too: at their own paths they are the live cluster's.
  // (Symbolic links in the data directory, such as pg_wal's, are restored as plain folders.)
  const args = [
    `--pg1-path=${dataDir}`,
    '--archive-mode=off',
    `--tablespace-map-all=${join(dataDir, '..', 'tablespaces')}`,
  ];
  if (options.set) args.push(`--set=${options.set}`);
  if (options.target) {
    args.push('--type=time', `--target=${pgTime(options.target)}`, '--target-action=promote');
  }
  return args;
}

/** "2026-12-07 14:03:00+00", as PostgreSQL's recovery_target_time and pgBackRest both read it. */
export function pgTime(iso: string): string {
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) throw new BackupError('Configuration', `--to: ${iso} is not a moment`);
  const [date, time] = moment.toISOString().replace('Z', '').split('T');
  return `${date} ${time!.replace(/\.000$/, '')}+00`;
}

/**
 * The scratch server's own settings, after pgBackRest's recovery settings in postgresql.auto.conf
 * (the later line wins): no archiving, no TCP, a socket in the scratch folder, trust there only.
 * A data directory without postgresql.conf (Debian keeps it in /etc) gets an empty one.
 */
async function writeScratchSettings(
  dir: string,
  socketDir: string,
  dataDir: string,
  extra: Record<string, string>,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  const hba = join(dir, 'pg_hba.conf');
  await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
  if (owner) await chown(hba, owner.uid, owner.gid);
  const settings: Record<string, string> = {
    archive_mode: 'off',
    archive_command: '',
    listen_addresses: '',
    port: String(SCRATCH_PORT),
    unix_socket_directories: socketDir,
    hba_file: hba,
    hot_standby: 'on',
    ssl: 'off',
    logging_collector: 'off',
    // It holds one recovery and one pg_dump: not the production server's memory.
    shared_buffers: '128MB',
    ...extra,
  };
  const lines = Object.entries(settings).map(([name, value]) => `${name} = '${value.replace(/'/g, "''")}'`);
  const conf = join(dataDir, 'postgresql.conf');
  if (!existsSync(conf)) {
    await writeFile(conf, '', { mode: 0o600 });
    if (owner) await chown(conf, owner.uid, owner.gid);
  }
  await appendFile(
    join(dataDir, 'postgresql.auto.conf'),
    `\n# scratch server (durable-backup)\n${lines.join('\n')}\n`,
  );
}

/** Polls the server until it is out of recovery; fails when it ends, the time is up, or on cancel. */
async function waitForPromotion(
  dir: string,
  socketDir: string,
  dataDir: string,
  user: string,
  options: ScratchOptions,
  started: number,
): Promise<string | undefined> {
  const timeoutMs = options.recoveryTimeoutMs ?? 3_600_000;
  for (;;) {
    if (options.signal?.aborted)
      throw new BackupError('General', 'scratch recovery was cancelled', { retryable: true });
    const state = await serverState(socketDir, user);
    if (state.promoted) return state.recoveredTo;
    if (state.error && !(await postmasterAlive(dataDir))) {
      const fatal = await lastFatal(join(dir, 'server.log'));
      throw new BackupError(
        'RestoreFailed',
        `the scratch server ended during recovery: ${fatal ?? state.error}`,
        {
          retryable: false,
          hint: /before configured recovery target/.test(fatal ?? '')
            ? 'the archive holds no WAL up to that moment yet: choose an earlier moment, or wait for archive_timeout'
            : "see the scratch server's log in the worker's log",
        },
      );
    }
    const elapsedMs = Date.now() - started;
    if (elapsedMs > timeoutMs) {
      throw new BackupError(
        'RestoreFailed',
        `scratch recovery did not end within ${Math.round(timeoutMs / 1000)} s`,
      );
    }
    options.progress?.({ step: 'recovering', elapsedMs });
    await sleep(500);
  }
}

async function serverState(
  dir: string,
  user: string,
): Promise<{ promoted: boolean; recoveredTo?: string; error?: string }> {
  const client = new pg.Client({
    host: dir,
    port: SCRATCH_PORT,
    user,
    database: 'postgres',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ recovering: boolean; replayed: Date | null }>(
      'SELECT pg_is_in_recovery() AS recovering, pg_last_xact_replay_timestamp() AS replayed',
    );
    const row = rows[0]!;
    return { promoted: !row.recovering, recoveredTo: row.replayed?.toISOString() };
  } catch (error) {
    return { promoted: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function postmasterAlive(dataDir: string): Promise<boolean> {
  const pid = postmasterPid(dataDir);
  if (!pid) {
    // pg_ctl -W returns before the postmaster writes its pid file: give it a moment.
    await sleep(1_000);
    return postmasterPid(dataDir) !== undefined && postmasterAlive(dataDir);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function lastFatal(log: string): Promise<string | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => /(FATAL|PANIC):/.test(l))
    .pop()
    ?.replace(/^.*?(FATAL|PANIC):\s*/, '');
}

/** A PostgreSQL program of the data directory's major version (Debian's layout, else pg_config's). */
export async function pgBin(dataDir: string, program: string): Promise<string> {
  const version = (await readFile(join(dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim();
  // The file came out of the repository: only a major version number may pick a folder.
  const debian = `/usr/lib/postgresql/${version}/bin/${program}`;
  if (/^\d+$/.test(version) && existsSync(debian)) return debian;
  const bindir = (await execa('pg_config', ['--bindir'], toolEnv()).catch(() => undefined))?.stdout.trim();
  if (!bindir)
    throw new BackupError(
      'MissingDependency',
      `${program} of PostgreSQL ${version || '(unknown)'} is not installed`,
    );
  return join(bindir, program);
}

async function runAs(user: string, file: string, args: string[]): Promise<void> {
  const line =
    process.getuid?.() === 0 && user !== 'root'
      ? ['runuser', '-u', user, '--', file, ...args]
      : [file, ...args];
  const result = await execa(line[0]!, line.slice(1), {
    ...toolEnv(),
    cwd: '/',
    reject: false,
    stdin: 'ignore',
  });
  if (result.failed) {
    const detail =
      String(result.stderr ?? '')
        .trim()
        .split('\n')
        .pop() || `exit code ${result.exitCode}`;
    throw new BackupError('RestoreFailed', `the scratch server did not start: ${detail}`, {
      retryable: false,
    });
  }
}
