import { basename } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError } from '../core/errors.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { signatureKeyFor } from '../core/trust.js';
import { signedManifest } from '../crypto/signing.js';
import type { BackupStore } from '../storage/types.js';
import { HashingStream } from '../stream/hashing.js';
import { REKEY_SUFFIX, type RekeyItem } from './plan.js';
import { rotated, type Copy, type NewFile, type RekeyWork } from './work.js';

// Key rotation (`backupctl rekey`) of one backup, in one store: the new file stored and read back,
// first beside the old one, then under the backup's own name, the manifest pointing at it each time.

/**
 * Moves one store's copy on from where it stands: old → the new file at <key>.rekey, checked, and
 * the manifest naming it → the new file under the backup's own name, checked, and the manifest
 * naming it → the temporary copy removed.
 */
export async function swap(
  copy: Copy,
  item: RekeyItem,
  file: NewFile,
  work: RekeyWork,
  remoteRecord: Manifest['remote'],
): Promise<Manifest> {
  const temporary = item.key + REKEY_SUFFIX;
  let manifest = copy.manifest;
  if (!rotated(manifest, work)) {
    const etag = await put(copy, temporary, file, work, false);
    manifest = await pointAt(copy, item, manifest, temporary, file, etag, remoteRecord, work);
  }
  if (manifest.file.key !== item.key) {
    const etag = await put(copy, item.key, file, work, true);
    manifest = await pointAt(copy, item, manifest, item.key, file, etag, remoteRecord, work);
  }
  work.onProgress?.({ step: `remove ${copy.location} ${temporary}` });
  await copy.store.remove(temporary);
  return manifest;
}

/** Stores the new file under key (resuming an upload an earlier attempt began), then reads it back. */
async function put(
  copy: Copy,
  key: string,
  file: NewFile,
  work: RekeyWork,
  final: boolean,
): Promise<string | undefined> {
  const step = `store ${copy.location} ${key}`;
  const earlier = work.resumeFrom;
  const resumeFrom = earlier?.file === file.sha256 ? earlier.checkpoint : undefined;
  work.onProgress?.({ step, file: file.sha256 });
  // The archive storage class only for the backup's own name: the temporary copy is read back at once.
  const storageClass = final && copy.location === 'remote' ? copy.manifest.remote?.storageClass : undefined;
  const result = await copy.store.putFile(key, file.path, {
    storageClass,
    resumeFrom,
    signal: work.signal,
    onCheckpoint: (checkpoint) => work.onProgress?.({ step, file: file.sha256, checkpoint }),
  });
  work.onProgress?.({ step: `read back ${copy.location} ${key}` });
  await checkStored(copy.store, key, file, work.signal);
  return result.etag;
}

/**
 * The stored object must have the new file's size and SHA-256. An archived object cannot be read
 * without a thaw: its size is checked, and the store checked each part's SHA-256 as it arrived.
 */
async function checkStored(
  store: BackupStore,
  key: string,
  file: NewFile,
  signal?: AbortSignal,
): Promise<void> {
  const stored = await store.stat(key);
  const where = store.describe(key);
  if (stored?.size !== file.bytes) {
    throw new BackupError(
      'UploadFailed',
      `${where}: ${stored?.size ?? 0} bytes after the upload, expected ${file.bytes}`,
    );
  }
  if (stored.archived) return;
  const hash = new HashingStream();
  await pipeline(await store.read(key), hash, new HashSink(), { signal });
  if (hash.digest() !== file.sha256) {
    throw new BackupError('UploadFailed', `${where}: read back with another SHA-256 than the file sent`);
  }
}

/** Drops what it is given: the read-back needs the hash, not the bytes. */
class HashSink extends Writable {
  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: () => void) {
    callback();
  }
}

/**
 * Writes the manifest naming the new file at key, everything else kept, unless the backup was
 * deleted meanwhile (a retention sweep): a deleted backup is not brought back.
 */
async function pointAt(
  copy: Copy,
  item: RekeyItem,
  manifest: Manifest,
  key: string,
  file: NewFile,
  etag: string | undefined,
  remoteRecord: Manifest['remote'],
  work: RekeyWork,
): Promise<Manifest> {
  if (!(await copy.store.stat(item.manifestKey))) {
    // What this run wrote goes too: the sweep was removing the backup's data as well.
    await copy.store.remove(item.key + REKEY_SUFFIX);
    if (key === item.key) await copy.store.remove(item.key);
    throw new BackupError(
      'DownloadFailed',
      `${copy.store.describe(item.manifestKey)}: deleted while its backup was re-encrypted`,
      {
        retryable: false,
      },
    );
  }
  const updated: Manifest = {
    ...manifest,
    file: { name: basename(key), key, bytes: file.bytes, sha256: file.sha256 },
    encryption: { method: 'openpgp', recipients: file.recipients },
    ...(manifest.remote && {
      remote:
        copy.location === 'remote'
          ? { ...manifest.remote, key: item.key, ...(key === item.key && etag ? { etag } : {}) }
          : (remoteRecord ?? manifest.remote),
    }),
  };
  // Signed again (signature first, then the manifest, as a backup writes them); an unsigned copy stays so.
  const signingKey = copy.signed ? work.trust?.signingKey : undefined;
  const { text, signature } = await signedManifest(updated, signingKey);
  const signatureKey = signatureKeyFor(item.manifestKey);
  if (signature) await copy.store.putBytes(signatureKey, signature);
  else await copy.store.remove(signatureKey);
  await copy.store.putBytes(item.manifestKey, text);
  return parseManifest(text, copy.store.describe(item.manifestKey));
}
