import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackupActivities } from '../../activities/backup.js';
import { loadConfig } from '../../src/config/index.js';
import { sealerFor } from '../../src/crypto/keys.js';
import { FsStore } from '../../src/storage/fs.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';

// A step that finished but whose completion was lost (the worker died just after) is retried:
// the retry must return the same outcome, not fail on the files the first attempt already moved.

describe('backup activities retried after they finished', () => {
  const database = uniqueName('retry');
  afterAll(() => dropDatabase(database));

  it('the dump step and the manifest return the first outcome again', async () => {
    await seedDatabase(database, 100);
    const keyring = await createKeyring();
    const config = loadConfig({
      env: {
        DB_NAME: database,
        DB_HOST: '127.0.0.1',
        BACKUP_DIR: tempDir('backups'),
        GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      },
    });
    const local = new FsStore(config.backup.dir);
    const activities = createBackupActivities({ config, sealer: await sealerFor(config), local });
    const env = new MockActivityEnvironment();
    const run = <A extends unknown[], R>(activity: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
      env.run(activity as (...args: unknown[]) => Promise<R>, ...args) as Promise<R>;
    const plan = await run(activities.planBackup, { startedAt: '2024-03-15T02:00:00Z' });
    expect(plan.remote).toBeUndefined();

    const first = await run(activities.dumpVerifyEncrypt, plan);
    const again = await run(activities.dumpVerifyEncrypt, plan);
    expect(again).toEqual(first);

    const manifest = await run(activities.writeManifest, plan, { dump: first });
    const manifestAgain = await run(activities.writeManifest, plan, { dump: first });
    expect(manifestAgain).toEqual(manifest);
    expect(manifest.file.sha256).toBe(first.encrypt.sha256);
    expect(manifest.tables.map((t) => t.rows)).toEqual([50, 2, 25, 100]);
  });
});
