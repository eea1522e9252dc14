import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { BackupResult } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { classifyBackup } from '../../src/core/classify.js';
import { MANIFEST_FORMAT_VERSION, parseManifest, type Manifest } from '../../src/core/manifest.js';
import { backupFileName, backupStem, formatStamp, manifestFileName } from '../../src/core/naming.js';
import { signatureKeyFor } from '../../src/core/trust.js';
import { loadSigningKey, signedManifest } from '../../src/crypto/signing.js';
import { storeList, type Stores } from '../../src/storage/index.js';
import { sha256File, tempDir } from './files.js';
import { download, incompleteUploads, s3StoreOf } from './s3.js';

/**
 * A complete backup as the backup workflow leaves it, data and manifest, in the given stores, taken
 * at createdAt: retention sweeps over months of backups without dumping any. Returns the data's key.
 */
export async function seedBackup(
  config: Config,
  stores: Stores,
  createdAt: Date,
  where: 'both' | 'local',
  label?: string,
): Promise<string> {
  const stamp = formatStamp(createdAt, 'UTC');
  const prefix = config.backup.prefix;
  const folder = label ? 'upgrades/' : '';
  const key = folder + backupFileName({ prefix, label, stamp, encrypted: false });
  const manifestKey = folder + manifestFileName(backupStem({ prefix, label, stamp }));
  const data = `archive of ${stamp}`;
  const manifest: Manifest = {
    formatVersion: MANIFEST_FORMAT_VERSION,
    database: config.database.name,
    serverVersion: '15',
    pgDumpVersion: 'pg_dump 15',
    kind: classifyBackup(createdAt, 'UTC', label),
    label,
    createdAt: createdAt.toISOString(),
    completedAt: createdAt.toISOString(),
    compression: 6,
    archive: { bytes: data.length, sha256: 'x', tocEntries: 1 },
    file: { name: key.split('/').pop()!, key, bytes: data.length, sha256: 'x' },
    encryption: { method: 'none', recipients: [] },
    tables: [],
  };
  // Signed as the worker signs (its BACKUP_SIGNING_KEY_FILE), so readers trust it as a real backup.
  const signed = await signedManifest(manifest, await loadSigningKey(config));
  for (const store of where === 'both' ? storeList(stores) : [stores.local]) {
    await store.putBytes(key, data);
    if (signed.signature) await store.putBytes(signatureKeyFor(manifestKey), signed.signature);
    await store.putBytes(manifestKey, signed.text);
  }
  return key;
}

/**
 * A manifest edited by a test, signed again with the worker's key (as if the backup host had written
 * it): the file and its `.sig` beside it. Tests that edit a manifest to simulate damage or a bug
 * must not be refused as forgeries before the check they exercise.
 */
export async function writeSignedManifest(config: Config, path: string, manifest: Manifest): Promise<void> {
  const { text, signature } = await signedManifest(manifest, await loadSigningKey(config));
  if (signature) writeFileSync(signatureKeyFor(path), signature);
  writeFileSync(path, text);
}

/** The same in the stores: the signature, then the manifest, in each. */
export async function putSignedManifest(
  config: Config,
  stores: Stores['local'][] | ReturnType<typeof storeList>,
  manifestKey: string,
  manifest: Manifest,
): Promise<void> {
  const { text, signature } = await signedManifest(manifest, await loadSigningKey(config));
  for (const store of stores) {
    if (signature) await store.putBytes(signatureKeyFor(manifestKey), signature);
    await store.putBytes(manifestKey, text);
  }
}

/** Every key in the local store and the bucket, sorted. */
export async function keysIn(stores: Stores): Promise<{ local: string[]; remote: string[] }> {
  const collect = async (store: Stores['local'] | NonNullable<Stores['remote']>) => {
    const keys: string[] = [];
    for await (const object of store.list()) keys.push(object.key);
    return keys.sort();
  };
  return { local: await collect(stores.local), remote: await collect(stores.remote!) };
}

/**
 * A backup that completed with nothing half-written: BACKUP_DIR holds its file and manifest only,
 * no multipart upload is left under S3_PREFIX, and the S3 object and the local copy are both, byte
 * for byte, the file the manifest records.
 */
export async function expectCompleteBackup(config: Config, backup: BackupResult): Promise<void> {
  const files = (readdirSync(config.backup.dir, { recursive: true }) as string[]).filter((file) =>
    statSync(join(config.backup.dir, file)).isFile(),
  );
  const signature = signatureKeyFor(backup.manifestKey);
  const signed = config.signing.keyFile ? [signature] : [];
  expect(files.sort()).toEqual([backup.key, backup.manifestKey, ...signed].sort());
  expect(await incompleteUploads(config)).toEqual([]);
  const manifest = parseManifest(
    readFileSync(join(config.backup.dir, backup.manifestKey), 'utf8'),
    backup.manifestKey,
  );
  const copy = join(tempDir('fault-check'), 'copy');
  await download(s3StoreOf(config), backup.key, copy);
  expect(await sha256File(copy)).toBe(manifest.file.sha256);
  expect(await sha256File(backup.localPath)).toBe(manifest.file.sha256);
  rmSync(copy);
}
