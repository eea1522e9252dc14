import type { Client } from '@temporalio/client';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approveRestore,
  connectClient,
  startBackup,
  startRestore,
  waitForBackup,
  waitForRestore,
  type BackupResult,
} from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { restoreStatusQuery } from '../../src/temporal/names.js';
import { expectCompleteBackup } from '../helpers/backups.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { createDatabase, dropDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { startPrivateTemporal, type PrivateService } from '../helpers/private-services.js';
import { incompleteUploads } from '../helpers/s3.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startThrottleProxy, type ThrottleProxy } from '../helpers/throttle-proxy.js';
import { startWorkerProcess, until } from '../helpers/worker-process.js';

// Fault 2 of the fault-injection suite: the Temporal server is stopped and started again in the
// middle of a backup (while the upload runs) and of a restore waiting for approval. The server is a
// private dev server persisted to a file, so the file's other tests keep the shared one.

const MIB = 1024 * 1024;
/** How long the server stays down: long enough for the worker's polls and heartbeats to fail. */
const DOWN_MS = 5_000;

const database = uniqueName('ft_src');
const target = uniqueName('ft_dst');
let temporal: PrivateService;
let proxy: ThrottleProxy;
let env: Record<string, string>;
let config: Config;
let client: Client;
let worker: ResultPromise;
let backup: BackupResult | undefined;

beforeAll(async () => {
  // About 40 MB that does not compress: three 16 MiB parts, sent at 4 MiB/s, keep the upload running ~10 s.
  await createDatabase(database);
  await withClient(database, (c) =>
    c.query(`CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || ':' || i), ''), 'hex') AS data
               FROM generate_series(1, 10000) g, generate_series(1, 256) i GROUP BY g;
             ALTER TABLE blobs ADD PRIMARY KEY (id);`),
  );
  temporal = await startPrivateTemporal();
  const keyring = await createKeyring();
  const shared = testEnv({});
  proxy = await startThrottleProxy(new URL(shared.S3_ENDPOINT!), 4 * MIB);
  env = testEnv({
    ...temporal.env,
    DB_NAME: database,
    BACKUP_DIR: tempDir('backups'),
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    PG_DUMP_COMPRESSION: '0',
    S3_ENDPOINT: proxy.url,
    S3_PREFIX: `${uniqueName('ft')}/`,
    TEMPORAL_TASK_QUEUE: uniqueName('ft'),
  });
  config = loadConfig({ env });
  worker = startWorkerProcess(env);
  client = await connectClient(config.temporal);
}, 120_000);

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker;
  await client?.connection.close();
  await proxy?.close();
  await temporal?.remove();
  for (const name of [database, target]) await dropDatabase(name);
});

/** Stops the server (TERM, as a deploy or a host reboot would), keeps it down DOWN_MS, starts it again. */
async function restartTemporal(whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  await temporal.stop();
  await Promise.all([whileDown(), new Promise((r) => setTimeout(r, DOWN_MS))]);
  await temporal.start();
}

describe('the Temporal server stopped and started again', () => {
  it('in the middle of the upload: the backup completes once it is back, whole', async () => {
    const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
    await until('the upload to S3 running', async () =>
      (await incompleteUploads(config)).length > 0 ? true : undefined,
    );
    await restartTemporal(async () => {
      // The worker goes on uploading while the server is away: the upload is not finished yet.
      expect(await incompleteUploads(config)).toHaveLength(1);
    });
    backup = await waitForBackup(handle);
    await expectCompleteBackup(config, backup);
  }, 120_000);

  it('while a restore waits for approval: after the restart it still waits, and runs only once approved', async () => {
    expect(backup, 'the backup of the first test').toBeDefined();
    const handle = await startRestore(client, {
      database,
      taskQueue: config.temporal.taskQueue,
      source: { s3Key: backup!.key },
      target: { database: target },
      createDb: true,
    });
    const state = async () => (await handle.query(restoreStatusQuery)).state;
    await until('the restore waiting for approval', async () =>
      (await state()) === 'awaiting-approval' ? true : undefined,
    );
    await restartTemporal();

    // Still waiting, and nothing done to the target, a while after the server is back.
    await until('the worker answering again', async () => state().catch(() => undefined));
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await state()).toBe('awaiting-approval');
    const exists = await withClient('postgres', (c) =>
      c.query('SELECT 1 FROM pg_database WHERE datname = $1', [target]),
    );
    expect(exists.rowCount).toBe(0);

    await approveRestore(client, handle.workflowId, { by: 'alice', reason: 'after the restart' });
    const result = await waitForRestore(handle);
    expect(result.status.state).toBe('completed');
    expect(result.status.decision).toMatchObject({ approved: true, by: 'alice' });
    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(database));
  }, 120_000);
});
