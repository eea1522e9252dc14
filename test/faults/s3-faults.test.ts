import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { expectCompleteBackup } from '../helpers/backups.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { createDatabase, dropDatabase, withClient } from '../helpers/postgres.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startPrivateS3, type PrivateService } from '../helpers/private-services.js';
import { incompleteUploads, objectKeys } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { startedActivities, startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { startThrottleProxy, type ThrottleProxy } from '../helpers/throttle-proxy.js';
import { until } from '../helpers/worker-process.js';

// Fault 3 of the fault-injection suite: S3 unreachable in the middle of an upload, S3 answering 500
// and 503 to a share of requests, and S3 credentials revoked mid-upload. S3 is a private SeaweedFS,
// so the other test files keep the shared one; a throttle proxy keeps each upload running ~10 s and a
// fault proxy in front of it answers the errors.

const MIB = 1024 * 1024;
/** The outage of the issue: S3 unreachable for a minute. */
const OUTAGE_MS = 60_000;

const database = uniqueName('fs_src');
let s3: PrivateService;
let throttle: ThrottleProxy;
let faults: FaultProxy;
let keyring: TestKeyring;
let testWorker: TestWorker | undefined;

beforeAll(async () => {
  // About 40 MB that does not compress, dumped without compression: three 16 MiB parts.
  await createDatabase(database);
  await withClient(database, (c) =>
    c.query(`CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || ':' || i), ''), 'hex') AS data
               FROM generate_series(1, 10000) g, generate_series(1, 256) i GROUP BY g`),
  );
  keyring = await createKeyring();
  s3 = await startPrivateS3();
  throttle = await startThrottleProxy(new URL(s3.env.S3_ENDPOINT!), 4 * MIB);
  faults = await startFaultProxy(new URL(throttle.url));
}, 120_000);

afterAll(async () => {
  await testWorker?.stop();
  await faults?.close();
  await throttle?.close();
  await s3?.remove();
  await dropDatabase(database);
});

/** A worker of its own (task queue, BACKUP_DIR, S3_PREFIX) on the private S3, through both proxies. */
async function workerFor(
  name: string,
  overrides: Record<string, string | undefined> = {},
): Promise<TestWorker> {
  await testWorker?.stop();
  testWorker = await startTestWorker(name, {
    ...s3.env,
    S3_ENDPOINT: faults.url,
    DB_NAME: database,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    PG_DUMP_COMPRESSION: '0',
    BACKUP_DIR: tempDir('backups'),
    ...overrides,
  });
  return testWorker;
}

/** The worker's config with S3 reached directly, not through the proxies: what the bucket really holds. */
function direct(config: Config): Config {
  return { ...config, s3: { ...config.s3!, endpoint: s3.env.S3_ENDPOINT } };
}

/** The parts S3 holds of the first unfinished upload under the config's prefix. */
async function partsSent(config: Config): Promise<number> {
  const client = createS3Client(config.s3!);
  const { Uploads } = await client.send(
    new ListMultipartUploadsCommand({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }),
  );
  const upload = Uploads?.[0];
  if (!upload) return 0;
  const { Parts } = await client.send(
    new ListPartsCommand({ Bucket: config.s3!.bucket, Key: upload.Key, UploadId: upload.UploadId }),
  );
  return Parts?.length ?? 0;
}

/** Waits until the backup's multipart upload has a finished part, with more to send; returns how many. */
async function uploadUnderWay(config: Config): Promise<number> {
  return until('an upload with a finished part', async () => {
    const parts = await partsSent(direct(config));
    return parts > 0 ? parts : undefined;
  });
}

/** The attempt the upload step ended with. */
async function uploadAttempts(handle: WorkflowHandle): Promise<number | undefined> {
  return (await startedActivities(handle)).filter((a) => a.activity === 'uploadBackup').at(-1)?.attempt;
}

describe('S3 failing during a backup', () => {
  it('answering 500 or 503 to a third of the requests: the backup completes, whole', async () => {
    const { client, config } = await workerFor('fs_5xx');
    let request = 0;
    faults.setRule(() => {
      request += 1;
      if (request % 3 !== 0) return undefined;
      return request % 2 ? { status: 500, code: 'InternalError' } : { status: 503, code: 'SlowDown' };
    });
    try {
      const backup = await waitForBackup(
        await startBackup(client, { database, taskQueue: config.temporal.taskQueue }),
      );
      expect(faults.counts.faults).toBeGreaterThan(3);
      await expectCompleteBackup(direct(config), backup);
    } finally {
      faults.setRule(undefined);
    }
  }, 120_000);

  it('with the credentials revoked mid-upload: a clear failure, not retried, no object written', async () => {
    const { client, config } = await workerFor('fs_revoked');
    const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
    await uploadUnderWay(config);
    faults.setRule(() => ({ status: 403, code: 'InvalidAccessKeyId' }));
    let message = '';
    try {
      await waitForBackup(handle);
    } catch (error) {
      message = (error as Error).message;
    } finally {
      faults.setRule(undefined);
    }
    expect(message).toMatch(/InvalidAccessKeyId|AccessDenied/);
    expect(await uploadAttempts(handle)).toBe(1);
    // No object appeared under the prefix: a backup that failed is no backup.
    expect(await objectKeys(direct(config))).toEqual([]);
    // The cleanup's abort was refused too, as every request with the revoked key is: the unfinished
    // upload stays until a retention sweep's clean-up (after 24 h) or the bucket's lifecycle rule.
    expect(await incompleteUploads(direct(config))).toHaveLength(1);
  }, 120_000);

  it(`unreachable for ${OUTAGE_MS / 1000} s mid-upload: the upload resumes and the backup completes, whole`, async () => {
    // The default number of attempts, as in production.
    const { client, config } = await workerFor('fs_outage', { BACKUP_RETRY_ATTEMPTS: undefined });
    const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
    const sentBefore = await uploadUnderWay(config);
    await s3.kill();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await s3.start();
    const backup = await waitForBackup(handle);
    expect(await uploadAttempts(handle)).toBeGreaterThan(1);
    // Resumed: the parts S3 held before the outage were not sent again.
    expect(backup.resumedParts).toBeGreaterThanOrEqual(sentBefore);
    await expectCompleteBackup(direct(config), backup);
  }, 240_000);
});
