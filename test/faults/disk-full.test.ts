import { readdirSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, withClient } from '../helpers/postgres.js';
import { incompleteUploads, objectKeys } from '../helpers/s3.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

// Fault 5: BACKUP_DIR fills up during a backup. The run fails cleanly, naming the file it could not
// write, leaves nothing half-written locally or in the bucket, and the next run succeeds once there is room.

const database = uniqueName('fault_full');
const mountPoint = tempDir('fault-full');

/** Every file under BACKUP_DIR, work folder included, except the folders themselves. */
function filesIn(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
}

describe('BACKUP_DIR full (fault 5)', () => {
  let env: Record<string, string>;

  beforeAll(async () => {
    // We are root in the test environment: a tmpfs of 2 MiB is a disk that fills up for real.
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mountPoint]);
    await seedDatabase(database, 10);
    // About 5 MB of random bytes: pg_dump cannot compress them below the 2 MiB of the mount.
    await withClient(database, (c) =>
      c.query(`CREATE TABLE noise AS
        SELECT g AS id, decode(md5(random()::text) || md5(random()::text), 'hex') AS bytes
          FROM generate_series(1, 150000) g`),
    );
    const keyring = await createKeyring();
    env = testEnv({
      DB_NAME: database,
      BACKUP_DIR: mountPoint,
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      S3_PREFIX: `${uniqueName('fault-full')}/`,
      TEMPORAL_TASK_QUEUE: uniqueName('fault-full'),
    });
  });

  afterAll(async () => {
    await execa('umount', ['--lazy', mountPoint]).catch(() => undefined);
    await dropDatabase(database);
  });

  it('fails naming the file it could not write, leaves nothing behind, and succeeds once there is room', async () => {
    const config = loadConfig({ env });
    await withWorker(config, async () => {
      const full = await backupctl(['backup', '--wait'], env);
      // EncryptionFailed: the step that writes the file (docs/troubleshooting.md), retried, then failed.
      expectOneLineError(
        full,
        5,
        new RegExp(
          `^error: cannot write ${mountPoint}/${database}-backup-\\d{8}-\\d{6}\\.dump\\.zst\\.gpg\\.partial: no space left on device$`,
        ),
      );
      expect(filesIn(mountPoint)).toEqual([]);
      expect(await objectKeys(config)).toEqual([]);
      expect(await incompleteUploads(config)).toEqual([]);

      await execa('mount', ['-o', 'remount,size=64m', mountPoint]);
      const roomy = await backupctl(['backup', '--wait'], env);
      expect(roomy.exitCode, roomy.stderr).toBe(0);
      const stored = filesIn(mountPoint).sort();
      expect(stored).toEqual([
        expect.stringMatching(/\.dump\.zst\.gpg$/),
        expect.stringMatching(/\.manifest\.json$/),
        expect.stringMatching(/\.manifest\.json\.sig$/),
      ]);
      expect(await objectKeys(config)).toEqual(stored);
      expect(await incompleteUploads(config)).toEqual([]);
    });
  });
});
