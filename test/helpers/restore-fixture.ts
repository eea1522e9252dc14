import type { Client } from '@temporalio/client';
import { afterAll, beforeAll } from 'vitest';
import { startBackup, waitForBackup, type BackupResult } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { createKeyring, type TestKeyring } from './gpg.js';
import { dropDatabase, seedDatabase } from './postgres.js';
import { uniqueName } from './services.js';
import { restoreTargets } from './targets.js';
import { startTestWorker, type TestWorker } from './temporal.js';

export const PASSPHRASE = 'key-passphrase-never-shown-91c2';
export const DB_PASSWORD = 'db-pass-never-shown-3b7e';

/** What a restore test file shares: a seeded source, its worker and one encrypted backup of it. */
export interface RestoreFixture {
  source: string;
  keyring: TestKeyring;
  env: Record<string, string>;
  config: Config;
  client: Client;
  backup: BackupResult;
}

/**
 * Registers the file's beforeAll (seed, keys, worker with two approvers, one backup) and afterAll
 * (worker stopped, source and every target dropped). The fields are filled in once beforeAll ran.
 */
export function restoreFixture(tag: string) {
  const fixture = {} as RestoreFixture;
  const targets = restoreTargets(`${tag}_dst`);
  let testWorker: TestWorker | undefined;
  fixture.source = uniqueName(`${tag}_src`);

  beforeAll(async () => {
    await seedDatabase(fixture.source);
    fixture.keyring = await createKeyring('default', PASSPHRASE);
    testWorker = await startTestWorker(tag, {
      DB_NAME: fixture.source,
      GPG_PUBLIC_KEY_FILE: fixture.keyring.publicKeyFile,
      GPG_PRIVATE_KEY_FILE: fixture.keyring.privateKeyFile,
      GPG_PASSPHRASE: PASSPHRASE,
      DB_PASSWORD, // trust auth ignores it; it must still never show
      RESTORE_APPROVERS: 'alice,bob',
      // Approvers named turn --force off by default; the tests of --force's own paths turn it back on.
      RESTORE_ALLOW_FORCE: 'true',
    });
    Object.assign(fixture, { env: testWorker.env, config: testWorker.config, client: testWorker.client });
    fixture.backup = await waitForBackup(
      await startBackup(fixture.client, {
        database: fixture.source,
        taskQueue: fixture.config.temporal.taskQueue,
      }),
    );
  });

  afterAll(async () => {
    await testWorker?.stop();
    for (const name of [fixture.source, ...targets.names]) await dropDatabase(name);
  });

  return { fixture, ...targets };
}
