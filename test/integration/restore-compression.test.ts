import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  startBackup,
  startRestore,
  waitForBackup,
  waitForRestore,
  type StartRestoreOptions,
} from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startWorker } from '../../src/worker/index.js';
import { writeSignedManifest } from '../helpers/backups.js';
import { failureOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';
import { restoreTargets } from '../helpers/targets.js';
import { startTestWorker, workflowBundle, type TestWorker } from '../helpers/temporal.js';

// Restores of every compression (BACKUP_COMPRESSION): zstd, the default, gzip (pg_dump's own), a
// manifest from before the setting ("compression": 6), and a damaged zstd stream. Each backup is made
// by a worker of its own settings; the restores run on one restore worker, which holds the key.

const source = uniqueName('rz_src');
const PASSPHRASE = 'key-passphrase-never-shown-5d1e';
const { names: targets, newTarget, seededTarget } = restoreTargets('rz_dst');

let keyring: TestKeyring;
let env: Record<string, string>;
let config: Config;
let client: Client;
let testWorker: TestWorker | undefined;

beforeAll(async () => {
  await seedDatabase(source);
  keyring = await createKeyring('default', PASSPHRASE);
  testWorker = await startTestWorker('rz', {
    DB_NAME: source,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    GPG_PASSPHRASE: PASSPHRASE,
    RESTORE_ALLOW_FORCE: 'true',
  });
  ({ env, config, client } = testWorker);
});

afterAll(async () => {
  await testWorker?.stop();
  for (const name of [source, ...targets]) await dropDatabase(name);
});

function restore(options: Omit<StartRestoreOptions, 'database'>): Promise<WorkflowHandle> {
  return startRestore(client, { database: source, taskQueue: config.temporal.taskQueue, ...options });
}

/**
 * A backup of the source made by a worker of its own, with these variables changed (and a BACKUP_DIR
 * and queue of its own); the restores run on the main worker.
 */
async function backupWith(changes: Record<string, string | undefined>) {
  const otherEnv = {
    ...env,
    BACKUP_DIR: tempDir('other'),
    TEMPORAL_TASK_QUEUE: uniqueName('rs_other'),
    ...changes,
  };
  const otherConfig = loadConfig({
    env: Object.fromEntries(
      Object.entries(otherEnv).filter((e): e is [string, string] => e[1] !== undefined),
    ),
  });
  const worker = await startWorker(otherConfig, { workflowBundle: await workflowBundle() });
  const otherClient = await connectClient(otherConfig.temporal);
  try {
    const made = await waitForBackup(
      await startBackup(otherClient, { database: source, taskQueue: otherConfig.temporal.taskQueue }),
    );
    return {
      backup: made,
      config: otherConfig,
      manifestPath: join(otherConfig.backup.dir, made.manifestKey),
    };
  } finally {
    await otherClient.connection.close();
    await worker.shutdown();
  }
}

/** Restores a backup file into a new database, and compares it with the source. */
async function expectRestoredFromFile(file: string): Promise<void> {
  const target = newTarget();
  const result = await waitForRestore(
    await restore({ source: { file }, target: { database: target }, createDb: true, force: true }),
  );
  expect(result.status.state).toBe('completed');
  expect(await tableFingerprints(target)).toEqual(await tableFingerprints(source));
}

type MadeBackup = Awaited<ReturnType<typeof backupWith>>;

/** The guide's own `gpg --encrypt` of an unencrypted backup, its manifest changed to describe it. */
async function encryptedByGpg({
  backup: plain,
  config: plainConfig,
  manifestPath,
}: MadeBackup): Promise<string> {
  const encryptedPath = `${plain.localPath}.gpg`;
  const recipient = ['--trust-model', 'always', '--recipient', keyring.fingerprint];
  await execa(
    'gpg',
    ['--batch', '--yes', ...recipient, '--output', encryptedPath, '--encrypt', plain.localPath],
    {
      env: { GNUPGHOME: keyring.home },
    },
  );
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const bytes = readFileSync(encryptedPath);
  manifest.file = {
    ...manifest.file,
    name: `${manifest.file.name}.gpg`,
    key: `${manifest.file.key}.gpg`,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  manifest.encryption = { method: 'openpgp', recipients: [keyring.fingerprint] };
  await writeSignedManifest(plainConfig, manifestPath, manifest);
  return encryptedPath;
}

describe('a backup encrypted by gpg itself', () => {
  it('restores from a local file', async () => {
    // A plain backup (zstd, the default), then the guide's own `gpg --encrypt` of it.
    const made = await backupWith({ GPG_PUBLIC_KEY_FILE: undefined });
    expect(made.backup.key).toMatch(/\.dump\.zst$/);
    const encryptedPath = await encryptedByGpg(made);
    await expectRestoredFromFile(encryptedPath);
    expect(existsSync(encryptedPath)).toBe(true);
  });
});

describe('every compression restores, old manifests included', () => {
  it('restores a gzip backup (pg_dump compressed it: .dump.gpg)', async () => {
    const made = await backupWith({ BACKUP_COMPRESSION: 'gzip:6' });
    expect(made.backup.key).toMatch(/-\d{6}\.dump\.gpg$/);
    expect(JSON.parse(readFileSync(made.manifestPath, 'utf8')).compression).toEqual({
      method: 'gzip',
      level: 6,
    });
    await expectRestoredFromFile(made.backup.localPath);
  });

  it('restores a backup whose manifest says "compression": 6, as manifests did before the setting', async () => {
    const made = await backupWith({ BACKUP_COMPRESSION: 'gzip:6' });
    const manifest = JSON.parse(readFileSync(made.manifestPath, 'utf8'));
    manifest.compression = 6;
    await writeSignedManifest(made.config, made.manifestPath, manifest);
    await expectRestoredFromFile(made.backup.localPath);
  });

  it('refuses a zstd backup that decompresses to more than its manifest says (a bomb), before the target is touched', async () => {
    // An unsigned backup's manifest can say anything (--allow-unsigned): zstd may write no byte past
    // the archive size it records, whatever the stream holds.
    const made = await backupWith({});
    const manifest = JSON.parse(readFileSync(made.manifestPath, 'utf8'));
    const recorded = 4096;
    expect(manifest.archive.bytes).toBeGreaterThan(recorded);
    manifest.archive.bytes = recorded;
    await writeSignedManifest(made.config, made.manifestPath, manifest);

    const target = await seededTarget();
    const handle = await restore({
      source: { file: made.backup.localPath },
      target: { database: target.name },
      force: true,
    });
    const error = await failureOf(waitForRestore(handle));
    expect(error.message).toMatch(
      `the archive decompresses to more than the ${recorded} bytes the manifest says`,
    );
    expect(error.kind).toBe('DecryptionFailed');
    await target.expectUnchanged();
  });

  it('refuses a zstd backup whose stream is damaged, before the target is touched (exit 5)', async () => {
    // Damaged before it was encrypted: the file, its decryption and the manifest agree; zstd does not.
    const made = await backupWith({ GPG_PUBLIC_KEY_FILE: undefined });
    const damaged = readFileSync(made.backup.localPath);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    writeFileSync(made.backup.localPath, damaged);
    const manifest = JSON.parse(readFileSync(made.manifestPath, 'utf8'));
    manifest.compression.stream.sha256 = createHash('sha256').update(damaged).digest('hex');
    await writeSignedManifest(made.config, made.manifestPath, manifest);
    const encryptedPath = await encryptedByGpg(made);

    const target = await seededTarget();
    const handle = await restore({
      source: { file: encryptedPath },
      target: { database: target.name },
      force: true,
    });
    const error = await failureOf(waitForRestore(handle));
    expect(error.message).toMatch(/zstd cannot decompress the archive: /);
    expect(error.kind).toBe('DecryptionFailed');
    await target.expectUnchanged();
  });
});
