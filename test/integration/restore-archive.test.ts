import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, startRestore, waitForBackup, waitForRestore } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { startMoto, slowDownRestores, type MotoServer } from '../helpers/moto.js';
import { dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

// A backup kept in GLACIER, on an S3 server that refuses to read archived objects until they are
// restored (moto): the restore asks for the restoration and waits on a durable timer.

describe('restore from an archive storage class', () => {
  const source = uniqueName('arch_src');
  const target = uniqueName('arch_dst');
  let moto: MotoServer;
  let config: Config;

  beforeAll(async () => {
    moto = await startMoto();
    await seedDatabase(source, 500);
    const keyring = await createKeyring();
    config = loadConfig({
      env: testEnv({
        DB_NAME: source,
        BACKUP_DIR: tempDir('archive'),
        GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
        GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
        S3_ENDPOINT: moto.endpoint,
        S3_BUCKET: 'archived-backups',
        S3_ACCESS_KEY: 'testing',
        S3_SECRET_KEY: 'testing',
        S3_FORCE_PATH_STYLE: 'true',
        // Whatever day this runs on, the backup goes to GLACIER.
        S3_STORAGE_CLASS_DAILY: 'GLACIER',
        S3_STORAGE_CLASS_WEEKLY: 'GLACIER',
        S3_STORAGE_CLASS_MONTHLY: 'GLACIER',
        RESTORE_THAW_POLL_SECONDS: '1',
        TEMPORAL_TASK_QUEUE: uniqueName('arch'),
      }),
    });
    await createS3Client(config.s3!).send(new CreateBucketCommand({ Bucket: 'archived-backups' }));
  });

  afterAll(async () => {
    await moto?.stop();
    await dropDatabase(source);
    await dropDatabase(target);
  });

  it('requests the restoration, waits until the object is readable, then restores', async () => {
    await withWorker(config, async (client) => {
      const taskQueue = config.temporal.taskQueue;
      const backup = await waitForBackup(await startBackup(client, { database: source, taskQueue }));
      expect(backup.remote?.storageClass).toBe('GLACIER');
      // The restoration shows in progress once before it is done: the workflow must wait for it.
      await slowDownRestores(moto.endpoint);
      const result = await waitForRestore(
        await startRestore(client, {
          database: source,
          taskQueue,
          source: { s3Key: backup.key },
          target: { database: target },
          createDb: true,
          force: true,
        }),
      );
      const thaw = result.status.phases.find((p) => p.phase === 'thaw');
      expect(thaw?.detail).toBe('GLACIER, restored from the archive after 2 checks');
      expect(await tableFingerprints(target)).toEqual(await tableFingerprints(source));
    });
  });
});
