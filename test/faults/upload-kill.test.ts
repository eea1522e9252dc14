import { readdirSync } from 'node:fs';
import {
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ResultPromise } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startBackup, waitForBackup } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { progressQuery } from '../../src/temporal/names.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { createDatabase, dropDatabase, withClient } from '../helpers/postgres.js';
import { download, s3StoreOf } from '../helpers/s3.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startThrottleProxy } from '../helpers/throttle-proxy.js';
import { withWorker } from '../helpers/temporal.js';
import { startWorkerProcess, until } from '../helpers/worker-process.js';

const MIB = 1024 * 1024;

async function firstUploadWithAPart(s3: S3Client, bucket: string, prefix: string): Promise<MultipartUpload> {
  return until('an upload with a finished part', async () => {
    const { Uploads } = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    const found = Uploads?.[0];
    if (!found) return undefined;
    const { Parts } = await s3.send(
      new ListPartsCommand({ Bucket: bucket, Key: found.Key, UploadId: found.UploadId }),
    );
    return (Parts?.length ?? 0) >= 1 ? found : undefined;
  });
}

async function partCount(s3: S3Client, bucket: string, upload: MultipartUpload): Promise<number> {
  const { Parts } = await s3.send(
    new ListPartsCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
  );
  return Parts?.length ?? 0;
}

async function uploadsUnder(s3: S3Client, bucket: string, prefix: string): Promise<MultipartUpload[]> {
  return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? [];
}

describe('an upload interrupted on the real services', () => {
  const database = uniqueName('kill');
  let keyring: TestKeyring;

  beforeAll(async () => {
    // About 120 MB that does not compress, dumped without compression: 8 parts of 16 MiB, so the
    // upload step, 4 parts at a time, sends two batches.
    await createDatabase(database);
    await withClient(database, (c) =>
      c.query(`CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || ':' || i), ''), 'hex') AS data
                 FROM generate_series(1, 29000) g, generate_series(1, 256) i GROUP BY g`),
    );
    keyring = await createKeyring();
  });
  afterAll(() => dropDatabase(database));

  function slowUploadEnv(): Record<string, string> {
    return testEnv({
      DB_NAME: database,
      BACKUP_DIR: tempDir('backups'),
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      PG_DUMP_COMPRESSION: '0',
      S3_PREFIX: `${uniqueName('kill')}/`,
      TEMPORAL_TASK_QUEUE: uniqueName('kill'),
      WORKER_HOST_ID: 'kill-test-host',
    });
  }

  it('by a killed worker is finished by its replacement from the parts already sent, byte for byte', async () => {
    const base = slowUploadEnv();
    const config = loadConfig({ env: base });
    const proxy = await startThrottleProxy(new URL(config.s3!.endpoint!), 10 * MIB);
    const workerEnv = { ...base, S3_ENDPOINT: proxy.url };
    const s3 = createS3Client(config.s3!);
    const client = await connectClient(config.temporal);
    let second: ResultPromise | undefined;
    try {
      const first = startWorkerProcess(workerEnv);
      const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });

      // Once the upload step runs and has sent a part of its own (beyond those sent while dumping),
      // and its heartbeat has carried that, kill the worker outright.
      await until('the upload step', async () =>
        (await handle.query(progressQuery)).step === 'upload' ? true : undefined,
      );
      const upload = await firstUploadWithAPart(s3, config.s3!.bucket, config.s3!.prefix);
      const sentWhileDumping = await partCount(s3, config.s3!.bucket, upload);
      // Parts sent while dumping carried checksums hashed on the way; the store accepted them.
      expect(sentWhileDumping).toBeGreaterThanOrEqual(1);
      await until('a part sent by the upload step', async () =>
        (await partCount(s3, config.s3!.bucket, upload)) > sentWhileDumping ? true : undefined,
      );
      await new Promise((r) => setTimeout(r, 3_000));
      first.kill('SIGKILL');
      await first;

      // The rest need not be slow: what is measured is which parts the replacement sends again.
      proxy.setBytesPerSecond(1024 * MIB);
      second = startWorkerProcess(workerEnv);
      const result = await waitForBackup(handle);

      expect(result.resumedParts).toBeGreaterThan(sentWhileDumping);
      expect(`${config.s3!.prefix}${result.key}`).toBe(upload.Key);
      expect(result.fileBytes).toBeGreaterThan(112 * MIB);
      const copy = join(tempDir('download'), 'copy.gpg');
      await download(s3StoreOf(config), result.key, copy);
      expect(await sha256File(copy)).toBe(await sha256File(result.localPath));
      expect(await sha256File(copy)).toBe(result.sha256);
      expect(await uploadsUnder(s3, config.s3!.bucket, config.s3!.prefix)).toEqual([]);
    } finally {
      second?.kill('SIGTERM');
      await second;
      await proxy.close();
      await client.connection.close();
    }
  }, 180_000);

  it('when the backup is cancelled stops and leaves nothing behind', async () => {
    const base = slowUploadEnv();
    const config = loadConfig({ env: base });
    const proxy = await startThrottleProxy(new URL(config.s3!.endpoint!), 10 * MIB);
    const s3 = createS3Client(config.s3!);
    try {
      await withWorker(loadConfig({ env: { ...base, S3_ENDPOINT: proxy.url } }), async (client) => {
        const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
        await firstUploadWithAPart(s3, config.s3!.bucket, config.s3!.prefix);
        await handle.cancel();
        await expect(waitForBackup(handle)).rejects.toThrow();
        expect((await handle.describe()).status.name).toBe('CANCELLED');
      });
      expect(await uploadsUnder(s3, config.s3!.bucket, config.s3!.prefix)).toEqual([]);
      const objects: string[] = [];
      for await (const object of s3StoreOf(config).list()) objects.push(object.key);
      expect(objects).toEqual([]);
      expect(readdirSync(config.backup.dir).filter((f) => f !== '.work')).toEqual([]);
      expect(readdirSync(`${config.backup.dir}/.work`)).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});
