import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  startBackup,
  startRestore,
  waitForBackup,
  waitForRestore,
  type BackupResult,
} from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { parseManifest } from '../../src/core/manifest.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { progressQuery, restoreStatusQuery } from '../../src/temporal/names.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { createDatabase, dropDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { backupctl } from '../helpers/cli.js';
import { processesMatching } from '../helpers/processes.js';
import { download, s3StoreOf } from '../helpers/s3.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startedActivities } from '../helpers/temporal.js';
import { killWorker, startWorkerProcess, until } from '../helpers/worker-process.js';

// Fault 1 and fault 8 of the fault-injection suite: the worker is killed outright (SIGKILL) in the
// middle of the dump, of the encryption and of pg_restore; a new worker finishes each job.

const MIB = 1024 * 1024;
/**
 * A -Fc archive starts with the format's version, the sizes of its integers, the compression, then
 * the time the dump started (seven integers), the database name and the versions. Two dumps of an
 * unchanged database differ in that time only: every byte after this offset must match.
 */
const ARCHIVE_HEADER_BYTES = 64;

const database = uniqueName('fk_src');
const target = uniqueName('fk_dst');
let keyring: TestKeyring;
let env: Record<string, string>;
let config: Config;
let client: Client;
let worker: ResultPromise | undefined;
let backup: BackupResult | undefined;
/** pg_restore processes a killed worker left running, stopped by the test. */
let orphans: number[] = [];

beforeAll(async () => {
  // About 50 MB that does not compress, dumped without compression: pg_dump, the encryption and
  // pg_restore each run for seconds, long enough to be killed half-way on purpose.
  await createDatabase(database);
  await withClient(database, (c) =>
    c.query(`CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || ':' || i), ''), 'hex') AS data
               FROM generate_series(1, 12000) g, generate_series(1, 256) i GROUP BY g;
             ALTER TABLE blobs ADD PRIMARY KEY (id);
             CREATE TABLE notes (id serial PRIMARY KEY, body text);
             INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 500) g;`),
  );
  keyring = await createKeyring();
  env = testEnv({
    DB_NAME: database,
    BACKUP_DIR: tempDir('backups'),
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    PG_DUMP_COMPRESSION: '0',
    S3_PREFIX: `${uniqueName('fk')}/`,
    TEMPORAL_TASK_QUEUE: uniqueName('fk'),
    // Every worker of this file stands for the same host: BACKUP_DIR is its disk.
    WORKER_HOST_ID: 'fault-host',
    // Two kills in one dump step, then the attempt that finishes.
    BACKUP_RETRY_ATTEMPTS: '3',
  });
  config = loadConfig({ env });
  client = await connectClient(config.temporal);
}, 180_000);

afterAll(async () => {
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already ended
    }
  }
  worker?.kill('SIGTERM');
  await worker;
  await client?.connection.close();
  for (const name of [database, target]) await dropDatabase(name);
});

/** SIGKILLs the running worker and starts its replacement, as a supervisor would restart it. */
async function replaceWorker(): Promise<void> {
  if (worker) await killWorker(worker);
  worker = startWorkerProcess(env);
}

/** The pg_dump of this file's database, if one runs. */
function pgDumpRunning(): boolean {
  return processesMatching('pg_dump').some(
    (p) => p.cmdline.includes('--snapshot') && p.environ.includes(`PGDATABASE=${database}\0`),
  );
}

/** The pids of the pg_restore processes writing into the target. */
function pgRestores(): number[] {
  return processesMatching('pg_restore')
    .filter((p) => p.cmdline.includes('--clean') && p.environ.includes(`PGDATABASE=${target}\0`))
    .map((p) => p.pid);
}

/** Every file under BACKUP_DIR, relative to it. */
function filesIn(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => statSync(join(dir, file)).isFile())
    .sort();
}

/** Bytes of the encrypted file being written (the .partial), or undefined when there is none. */
function partialBytes(): number | undefined {
  const partial = filesIn(config.backup.dir).find((file) => file.endsWith('.partial'));
  return partial === undefined ? undefined : statSync(join(config.backup.dir, partial)).size;
}

/** Offsets where two files of the same size differ (at most limit of them). */
async function differingOffsets(a: string, b: string, limit = 100): Promise<number[]> {
  const [left, right] = await Promise.all([open(a), open(b)]);
  try {
    const offsets: number[] = [];
    const chunk = () => Buffer.alloc(MIB);
    for (let position = 0; offsets.length < limit; position += MIB) {
      const [l, r] = [chunk(), chunk()];
      const [{ bytesRead }] = await Promise.all([
        left.read(l, 0, MIB, position),
        right.read(r, 0, MIB, position),
      ]);
      if (bytesRead === 0) return offsets;
      for (let i = 0; i < bytesRead && offsets.length < limit; i += 1)
        if (l[i] !== r[i]) offsets.push(position + i);
    }
    return offsets;
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}

/** The GnuPG homes a worker process made for its restore key (src/crypto/gpg-open.ts). */
function gpgHomesOf(pid: number): string[] {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith(`durable-backup-restore-gnupg-${pid}.`))
    .map((name) => join(tmpdir(), name));
}

/** What a killed worker leaves decrypts nothing: not through its agent, nor with the key's own (empty) passphrase. */
async function expectNoUsableKey(home: string): Promise<void> {
  const out = join(tempDir('stolen'), 'plain');
  for (const pinentry of [
    ['--pinentry-mode', 'error'],
    ['--pinentry-mode', 'loopback', '--passphrase', ''],
  ]) {
    const attempt = await execa(
      'gpg',
      ['--homedir', home, '--batch', ...pinentry, '--output', out, '--decrypt', backup!.localPath],
      { reject: false },
    );
    expect(attempt.exitCode, attempt.stderr).not.toBe(0);
    expect(existsSync(out) ? statSync(out).size : 0).toBe(0);
  }
}

describe('a worker killed with SIGKILL', () => {
  it('during the dump and during the encryption: a new worker dumps again, and the backup equals an undisturbed dump', async () => {
    worker = startWorkerProcess(env);
    const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });

    // Kill 1: pg_dump is reading the database, and encrypted bytes are reaching the disk.
    await until('pg_dump writing the backup', () =>
      pgDumpRunning() && (partialBytes() ?? 0) > 8 * MIB ? true : undefined,
    );
    expect((await handle.query(progressQuery)).step).toBe('dump');
    await replaceWorker();
    // The dead worker's pg_dump does not outlive it (its pipe's reader is gone).
    await until('the dead worker’s pg_dump to end', () => (pgDumpRunning() ? undefined : true), 10_000);

    // Kill 2, in the retry (after the 20 s heartbeat timeout): pg_dump has read the whole database
    // and exited; the encryption is still writing what it buffered.
    await until('the retry’s pg_dump', () => (pgDumpRunning() ? true : undefined), 60_000, 50);
    await until(
      'pg_dump done, the encryption still writing',
      () => (!pgDumpRunning() && partialBytes() !== undefined ? true : undefined),
      60_000,
      10,
    );
    await replaceWorker();

    backup = await waitForBackup(handle);

    // The history shows the two dead attempts: the third one finished.
    const dumpStep = (await startedActivities(handle)).find((a) => a.activity === 'dumpVerifyEncrypt');
    expect(dumpStep).toMatchObject({ attempt: 3, lastFailure: expect.stringMatching(/heartbeat/i) });

    // Nothing half-written is left: no .partial file, no work file, no unfinished upload.
    const signature = `${backup.manifestKey}.sig`;
    expect(filesIn(config.backup.dir)).toEqual([backup.key, backup.manifestKey, signature].sort());
    const s3 = createS3Client(config.s3!);
    const { Uploads } = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }),
    );
    expect(Uploads ?? []).toEqual([]);

    // The stored copy is the local file, byte for byte, and both are what the manifest records.
    const manifest = parseManifest(
      readFileSync(join(config.backup.dir, backup.manifestKey), 'utf8'),
      backup.manifestKey,
    );
    const work = tempDir('fault-check');
    const copy = join(work, 'copy.gpg');
    await download(s3StoreOf(config), backup.key, copy);
    expect(await sha256File(copy)).toBe(manifest.file.sha256);
    expect(await sha256File(backup.localPath)).toBe(manifest.file.sha256);

    // Decrypted, it is the archive the manifest records, and the same archive as a pg_dump run
    // undisturbed on the same data, up to the dump's start time in the header.
    const archive = join(work, 'archive.dump');
    await keyring.decrypt(backup.localPath, archive);
    expect(await sha256File(archive)).toBe(manifest.archive.sha256);
    // To a pipe, as the backup does: written to a file, pg_dump goes back to record data offsets.
    const reference = join(work, 'reference.dump');
    const pgDump = execa('pg_dump', ['--format=custom', '--compress=0'], {
      env: { PGHOST: '127.0.0.1', PGPORT: '5432', PGUSER: 'postgres', PGDATABASE: database },
      buffer: { stdout: false },
    });
    await pipeline(pgDump.stdout, createWriteStream(reference));
    await pgDump;
    expect(statSync(archive).size).toBe(statSync(reference).size);
    const differing = await differingOffsets(archive, reference);
    expect(differing.filter((offset) => offset >= ARCHIVE_HEADER_BYTES)).toEqual([]);
  }, 240_000);

  it('while pg_restore runs: the target is reported possibly partial, and the retry restores it cleanly', async () => {
    expect(backup, 'the backup of the first test').toBeDefined();
    worker ??= startWorkerProcess(env);
    const handle = await startRestore(client, {
      database,
      taskQueue: config.temporal.taskQueue,
      source: { latest: true },
      target: { database: target },
      createDb: true,
      force: true,
    });

    // pg_restore has emptied and recreated the target and is copying rows into it.
    await until(
      'pg_restore copying rows',
      () =>
        withClient('postgres', async (c) => {
          const { rowCount } = await c.query(
            `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'durable-backup pg_restore' AND query ILIKE 'COPY%'`,
            [target],
          );
          return rowCount ? true : undefined;
        }),
      60_000,
      100,
    );
    const during = await handle.query(restoreStatusQuery);
    expect(during).toMatchObject({ state: 'restoring', targetTouched: true });
    const deadPid = worker.pid!;
    await killWorker(worker);
    const [home] = gpgHomesOf(deadPid);
    expect(home, 'the dead worker decrypted with gpg, from a home of its own').toBeDefined();
    await expectNoUsableKey(home!);
    // The dead worker's pg_restore runs on: nothing ties it to its parent. Stop it where it is, as a
    // large table would keep it busy past the retry, holding its locks on the target.
    orphans = pgRestores();
    expect(orphans.length).toBeGreaterThan(0);
    for (const pid of orphans) process.kill(pid, 'SIGSTOP');
    worker = startWorkerProcess(env);
    // The new worker removes the dead one's home at start, and stops its agent.
    await until('the dead worker’s GnuPG home to go', () => (existsSync(home!) ? undefined : true), 30_000);
    expect(processesMatching('gpg-agent').filter((p) => p.cmdline.includes(home!))).toEqual([]);

    // While the dead attempt's heartbeat times out, the status says the target may be partial.
    expect(await handle.query(restoreStatusQuery)).toMatchObject({ state: 'restoring', targetTouched: true });
    const shown = await backupctl(['status', handle.workflowId], env);
    expect(shown.stdout).toContain('state: restoring');
    expect(shown.stdout).toContain('it may be partly restored until the restore completes');

    const result = await waitForRestore(handle);
    expect(result.status.state).toBe('completed');
    const restoreStep = (await startedActivities(handle)).find((a) => a.activity === 'restoreIntoTarget');
    expect(restoreStep).toMatchObject({ attempt: 2, lastFailure: expect.stringMatching(/heartbeat/i) });

    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(database));
    // The connection limit is back (-1: none), no pg_restore is left, nor the decrypted archive.
    const limit = await withClient('postgres', (c) =>
      c.query<{ datconnlimit: number }>('SELECT datconnlimit FROM pg_database WHERE datname = $1', [target]),
    );
    expect(limit.rows[0]?.datconnlimit).toBe(-1);
    // The retry ended the orphan's sessions: woken up, it stops at its first error.
    for (const pid of orphans) process.kill(pid, 'SIGCONT');
    await until('the orphan pg_restore to end', () => (pgRestores().length === 0 ? true : undefined), 10_000);
    expect(
      existsSync(join(config.backup.dir, '.restore')) ? filesIn(join(config.backup.dir, '.restore')) : [],
    ).toEqual([]);
  }, 180_000);
});
