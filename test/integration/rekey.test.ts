import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startBackup,
  startRestore,
  waitForBackup,
  waitForRestore,
  type BackupResult,
} from '../../src/client/index.js';
import { readManifest, readSignedManifest } from '../../src/storage/catalog.js';
import type { Config } from '../../src/config/index.js';
import { sealedContent, type Manifest } from '../../src/core/manifest.js';
import { manifestKeyFor } from '../../src/core/naming.js';
import { openerFor } from '../../src/crypto/keys.js';
import { checkManifestSignature, loadSigningKey, trustPolicyOf } from '../../src/crypto/signing.js';
import { rekeyBackup } from '../../src/rekey/backup.js';
import { REKEY_SUFFIX, planRekey, type RekeyItem } from '../../src/rekey/plan.js';
import { readNewRecipients } from '../../src/rekey/recipients.js';
import { openStores, type Stores } from '../../src/storage/index.js';
import type { BackupStore, LocalStore } from '../../src/storage/types.js';
import { backupctl } from '../helpers/cli.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { download, s3StoreOf } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Key rotation on the real services: backups encrypted to key A, re-encrypted to key B by a worker
// that holds A's private key only; then read back with plain gpg and B, as an operator would.

const source = uniqueName('rekey_src');
const target = uniqueName('rekey_dst');
let keyA: TestKeyring;
let keyB: TestKeyring;
let testWorker: TestWorker | undefined;
let env: Record<string, string>;
let config: Config;
let stores: Stores<LocalStore>;
const backups: BackupResult[] = [];

beforeAll(async () => {
  await seedDatabase(source);
  [keyA, keyB] = await Promise.all([createKeyring(), createKeyring()]);
  testWorker = await startTestWorker('rekey', {
    DB_NAME: source,
    GPG_PUBLIC_KEY_FILE: keyA.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyA.privateKeyFile,
  });
  ({ env, config } = testWorker);
  stores = openStores(config);
  backups.push(await backup(), await backup());
});

afterAll(async () => {
  await testWorker?.stop();
  for (const name of [source, target]) await dropDatabase(name);
});

async function backup(): Promise<BackupResult> {
  const { client } = testWorker!;
  // Names have a resolution of one second: two quick backups of this small database in one second
  // would be one backup. Starting in the next second keeps them apart.
  await new Promise((resolve) => setTimeout(resolve, 1_010 - (Date.now() % 1_000)));
  return waitForBackup(await startBackup(client, { database: source, taskQueue: config.temporal.taskQueue }));
}

const manifestKeyOf = (b: BackupResult) => manifestKeyFor(b.key)!;

/** Each store's copy of a backup on this host: its manifest, and its file as stored (downloaded when remote). */
async function copiesOf(b: BackupResult): Promise<{ where: string; manifest: Manifest; path: string }[]> {
  const remote = s3StoreOf(config);
  const downloaded = join(tempDir('rekey-copy'), 'remote.dump.gpg');
  await download(remote, b.key, downloaded);
  return [
    {
      where: 'local',
      manifest: await readManifest(stores.local, manifestKeyOf(b)),
      path: stores.local.pathOf(b.key),
    },
    { where: 'remote', manifest: await readManifest(remote, manifestKeyOf(b)), path: downloaded },
  ];
}

/** Every key in a store: what is left over from a rotation shows here. */
async function keysIn(store: BackupStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list()) keys.push(object.key);
  return keys.sort();
}

/**
 * Each copy decrypts with B's key, with plain gpg, to the archive the manifest names; A's key cannot;
 * and its new manifest is signed again by the worker's key.
 */
async function expectRekeyedToB(b: BackupResult): Promise<void> {
  for (const store of [stores.local, s3StoreOf(config)]) {
    const signed = await readSignedManifest(store, manifestKeyOf(b));
    const check = await checkManifestSignature(
      signed.manifestText,
      signed.signatureText,
      signed.manifest.signer,
    );
    expect(check, store.describe(b.key)).toEqual({
      state: 'valid',
      fingerprint: (await loadSigningKey(config))!.fingerprint,
    });
  }
  for (const { where, manifest, path } of await copiesOf(b)) {
    expect(manifest.encryption.recipients, where).toEqual([keyB.fingerprint]);
    expect(manifest.file.key, where).toBe(b.key);
    expect(await sha256File(path), where).toBe(manifest.file.sha256);
    expect(manifest.file.sha256, where).not.toBe(b.sha256);
    // Re-encrypted only: the compressed stream (zstd, the default) is the one backed up, byte for byte.
    const compressed = join(tempDir('rekey-archive'), 'archive.dump.zst');
    await keyB.decrypt(path, compressed);
    expect(manifest.compression, where).toMatchObject({ method: 'zstd', level: 3 });
    expect(await sha256File(compressed), where).toBe(sealedContent(manifest).sha256);
    const archive = join(tempDir('rekey-archive'), 'archive.dump');
    await execa('zstd', ['-q', '-d', compressed, '-o', archive]);
    expect(await sha256File(archive), where).toBe(manifest.archive.sha256);
    await expect(keyA.decrypt(path, join(tempDir('rekey-a'), 'a.dump')), where).rejects.toThrow();
  }
}

/** Only backups and manifests are left (and the restore's log): no temporary copy, no work file. */
async function expectNothingLeftOver(): Promise<void> {
  for (const store of [stores.local, s3StoreOf(config)]) {
    const keys = await keysIn(store);
    expect(
      keys.filter((k) => !/\.(dump\.zst\.gpg|manifest\.json|manifest\.json\.sig)$|^logs\//.test(k)),
    ).toEqual([]);
  }
  expect(readdirSync(join(config.backup.dir, '.rekey'))).toEqual([]);
}

describe('backupctl rekey', () => {
  it('refuses a file that is not a public key, with exit code 3, before anything starts', async () => {
    const text = join(tempDir('rekey-bad'), 'notes.txt');
    writeFileSync(text, 'not a key\n');
    const notAKey = await backupctl(['rekey', '--recipients-file', text, '--wait'], env);
    expect(notAKey.exitCode).toBe(3);
    expect(notAKey.stderr).toMatch(/--recipients-file .*notes\.txt: no armored OpenPGP public key found/);
    const privateKey = await backupctl(['rekey', '--recipients-file', keyB.privateKeyFile], env);
    expect(privateKey.exitCode).toBe(3);
    expect(privateKey.stderr).toMatch(/holds a private key; give the public key only/);
    expect(privateKey.stderr).not.toMatch(/at .*\.js/);
  });

  it('--dry-run lists the backups to re-encrypt and changes nothing', async () => {
    const before = await keysIn(stores.local);
    const run = await backupctl(['rekey', '--recipients-file', keyB.publicKeyFile, '--dry-run'], env);
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`to ${keyB.fingerprint}: to re-encrypt 2, done already 0`);
    for (const b of backups) expect(run.stdout).toContain(`rekey  ${b.key}  (remote, local)`);
    expect(await keysIn(stores.local)).toEqual(before);
  });

  it('re-encrypts every copy to the new key, under the same names, and the old key no longer opens them', async () => {
    const run = await backupctl(['rekey', '--recipients-file', keyB.publicKeyFile, '--wait', '--json'], env);
    expect(run.stderr + run.stdout).toMatch(/"rekeyed": 2/);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toMatch(/no worker polls/);
    for (const b of backups) await expectRekeyedToB(b);
    await expectNothingLeftOver();

    const again = await backupctl(
      ['rekey', '--recipients-file', keyB.publicKeyFile, '--wait', '--json'],
      env,
    );
    expect(again.exitCode).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rekeyed: 0, alreadyDone: 2 });
  });

  it('a worker holding the new key restores the re-encrypted backup', async () => {
    await testWorker!.stop();
    testWorker = await startTestWorker('rekey', {
      ...env,
      GPG_PRIVATE_KEY_FILE: keyB.privateKeyFile,
    });
    const { client } = testWorker;
    const handle = await startRestore(client, {
      database: source,
      taskQueue: config.temporal.taskQueue,
      source: { s3Key: backups[1]!.key },
      target: { database: target },
      createDb: true,
      force: true,
    });
    await waitForRestore(handle);
    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(source));
  });
});

describe('an interrupted rotation', () => {
  /** Runs one backup's rotation on this host, stopping it (as a kill would) when it reaches a step. */
  async function rekeyUntil(item: RekeyItem, step: (s: string) => boolean): Promise<void> {
    const stop = new Error('stopped here');
    const run = rekeyBackup(stores, item, {
      recipients: await readNewRecipients(readFileSync(keyB.publicKeyFile, 'utf8'), 'B'),
      opener: await openerFor(loadWithKeyA()),
      workDir: join(config.backup.dir, '.rekey'),
      trust: { policy: await trustPolicyOf(config), signingKey: await loadSigningKey(config) },
      onProgress: (progress) => {
        if (step(progress.step)) throw stop;
      },
    });
    await expect(run).rejects.toBe(stop);
  }

  const loadWithKeyA = (): Config => ({
    ...config,
    restore: { ...config.restore, privateKeyFile: keyA.privateKeyFile },
  });

  it('is finished by the next run, from wherever it stopped, with nothing lost and nothing left over', async () => {
    // The worker holds B's private key now: new backups go to A, as before a rotation.
    const [early, late] = [await backup(), await backup()];
    const plan = await planRekey(config, stores, [keyB.fingerprint]);
    const itemOf = (b: BackupResult) => plan.backups.find((i) => i.key === b.key)!;
    const remote = s3StoreOf(config);

    // Stopped after the new file reached the bucket beside the old one, before any manifest changed.
    await rekeyUntil(itemOf(early), (s) => s === `read back remote ${early.key}${REKEY_SUFFIX}`);
    expect(await remote.stat(early.key + REKEY_SUFFIX)).toBeDefined();
    expect((await readManifest(remote, manifestKeyOf(early))).encryption.recipients).toEqual([
      keyA.fingerprint,
    ]);

    // Stopped after the bucket's manifest pointed at the new file under its temporary name.
    await rekeyUntil(itemOf(late), (s) => s === `store remote ${late.key}`);
    const halfway = await readManifest(remote, manifestKeyOf(late));
    expect(halfway.file.key).toBe(late.key + REKEY_SUFFIX);
    expect((await remote.stat(halfway.file.key))?.size).toBe(halfway.file.bytes);

    // The worker holds B only: the plan and the re-encryption need A's, as at the start of a rotation.
    await testWorker!.stop();
    testWorker = await startTestWorker('rekey', { ...env, GPG_PRIVATE_KEY_FILE: keyA.privateKeyFile });
    const run = await backupctl(['rekey', '--recipients-file', keyB.publicKeyFile, '--wait', '--json'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ rekeyed: 2, failed: 0, alreadyDone: 2 });
    for (const b of [...backups, early, late]) await expectRekeyedToB(b);
    await expectNothingLeftOver();
  });
});
