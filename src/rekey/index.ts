import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline as pipe, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { backupCopies, newestFirst, readManifest } from '../storage/catalog.js';
import { HashingStream } from '../backup/hash.js';
import { discardPartial } from '../backup/partial.js';
import type { Config } from '../config/index.js';
import { BackupError, configError, ioFailure } from '../core/errors.js';
import { serializeManifest, type Manifest } from '../core/manifest.js';
import { isComplete } from '../core/reconcile.js';
import type { Opener } from '../crypto/open.js';
import type { Stores } from '../storage/index.js';
import type { BackupStore, UploadCheckpoint } from '../storage/types.js';
import { sameKeys, wrongRecipients, type NewRecipients } from './recipients.js';

// Key rotation: every retained backup re-encrypted to new recipients, under the same name. Per store,
// the new file goes first to a temporary key beside the old one (<key>.rekey) and is read back; the
// manifest then points at it; the new file replaces the old under the backup's own name (an atomic
// overwrite: a rename, or a completed upload), is read back, and the manifest points there again;
// the temporary copy goes last. At every instant the manifest names a complete object whose size and
// SHA-256 it records, and a stop anywhere leaves at worst a <key>.rekey the next run replaces.

/** The temporary key of a backup's new file while the manifest still names the old one. */
export const REKEY_SUFFIX = '.rekey';

/** One backup to rotate, named so a person can find it. */
export interface RekeyItem {
  manifestKey: string;
  /** The backup's own data key (what it is called before and after). */
  key: string;
  createdAt: string;
  /** The stores where it is not done yet. */
  locations: ('local' | 'remote')[];
}

export interface RekeyPlan {
  backups: RekeyItem[];
  /** Backups the rotation leaves alone, and why. */
  skipped: { key: string; reason: string }[];
  /** Backups already encrypted to the new recipients, nothing left over. */
  done: number;
}

/** The backup's own name, also while its manifest names the temporary copy. */
export function ownKey(fileKey: string): string {
  return fileKey.endsWith(REKEY_SUFFIX) ? fileKey.slice(0, -REKEY_SUFFIX.length) : fileKey;
}

const locationOf = (stores: Stores, store: BackupStore) => (store === stores.local ? 'local' : 'remote');

/** What a rotation to these recipients has left to do: every copy of this database's backups, newest first. */
export async function planRekey(config: Config, stores: Stores, recipients: string[]): Promise<RekeyPlan> {
  const all = new Map<string, RekeyItem>();
  const skipped = new Map<string, string>();
  const copies = [];
  for await (const copy of backupCopies(remoteFirst(stores))) {
    if (copy.manifest.database === config.database.name) copies.push(copy);
  }
  for (const { manifestKey, manifest, store, archive } of newestFirst(copies)) {
    const key = ownKey(manifest.file.key);
    if (manifest.encryption.method !== 'openpgp') {
      skipped.set(key, 'not encrypted: a rotation re-encrypts, it does not encrypt; take a new backup');
      continue;
    }
    const item = all.get(manifestKey) ?? { manifestKey, key, createdAt: manifest.createdAt, locations: [] };
    all.set(manifestKey, item);
    const finished =
      sameKeys(manifest.encryption.recipients, recipients) &&
      manifest.file.key === key &&
      !(await store.stat(key + REKEY_SUFFIX));
    if (finished) continue;
    // An incomplete copy (its archive lost or cut) cannot be re-encrypted: the re-read reports it.
    if (!isComplete({ manifest, archive })) {
      skipped.set(`${key} (${locationOf(stores, store)})`, 'incomplete copy: run backupctl reread');
      continue;
    }
    item.locations.push(locationOf(stores, store));
  }
  const items = [...all.values()];
  return {
    backups: items.filter((i) => i.locations.length > 0),
    skipped: [...skipped].map(([key, reason]) => ({ key, reason })),
    done: items.filter((i) => i.locations.length === 0 && !skipped.has(i.key)).length,
  };
}

function remoteFirst(stores: Stores): BackupStore[] {
  return stores.remote ? [stores.remote, stores.local] : [stores.local];
}

/** Where a rotation stands, in the heartbeats: the step, and the upload a retry resumes. */
export interface RekeyProgress {
  step: string;
  /** SHA-256 of the new file the checkpoint's parts are from: a re-encryption makes other bytes. */
  file?: string;
  checkpoint?: UploadCheckpoint;
}

export interface RekeyWork {
  recipients: NewRecipients;
  /** Required unless every copy is done already. */
  opener?: Opener;
  /** BACKUP_DIR/.rekey: the new file is kept there until every store has it. */
  workDir: string;
  signal?: AbortSignal;
  /** The last progress an earlier attempt recorded. */
  resumeFrom?: RekeyProgress;
  /** Records progress (heartbeats). Called at each step, before the step. */
  onProgress?: (progress: RekeyProgress) => void;
}

export interface RekeyedBackup {
  key: string;
  bytes: number;
  sha256: string;
  recipients: string[];
  /** Whether this attempt decrypted and re-encrypted it (false: an earlier attempt's file was used). */
  reencrypted: boolean;
  locations: ('local' | 'remote')[];
}

/** A store's copy of the backup being rotated: its manifest there. */
interface Copy {
  location: 'local' | 'remote';
  store: BackupStore;
  manifest: Manifest;
}

/** The new file on this host, and what it is. */
interface NewFile {
  path: string;
  bytes: number;
  sha256: string;
  recipients: string[];
}

/**
 * Rotates one backup in the stores the plan named (the bucket first, as the backup writes it). The
 * copies already done elsewhere count: they fix which new file the others get.
 */
export async function rekeyBackup(stores: Stores, item: RekeyItem, work: RekeyWork): Promise<RekeyedBackup> {
  const copies = await copiesOf(stores, item);
  const { file, reencrypted } = await newFile(copies, item, work);
  await checkEncryptedTo(file.path, work.recipients.encryptionKeyIDs);
  // The remote's record (its new ETag) goes into the local manifest too, as the backup writes it.
  let remoteRecord = copies.find((c) => c.location === 'remote')?.manifest.remote;
  for (const copy of copies.filter((c) => item.locations.includes(c.location))) {
    const manifest = await swap(copy, item, file, work, remoteRecord);
    if (copy.location === 'remote') remoteRecord = manifest.remote;
  }
  await rm(file.path, { force: true });
  await rm(`${file.path}.json`, { force: true });
  return {
    key: item.key,
    bytes: file.bytes,
    sha256: file.sha256,
    recipients: file.recipients,
    reencrypted,
    locations: item.locations,
  };
}

async function copiesOf(stores: Stores, item: RekeyItem): Promise<Copy[]> {
  const copies: Copy[] = [];
  for (const store of remoteFirst(stores)) {
    if (!(await store.stat(item.manifestKey))) continue;
    copies.push({
      location: locationOf(stores, store),
      store,
      manifest: await readManifest(store, item.manifestKey),
    });
  }
  if (copies.length === 0) {
    throw new BackupError(
      'DownloadFailed',
      `${item.manifestKey}: no manifest in any store; deleted meanwhile?`,
      {
        retryable: false,
      },
    );
  }
  return copies;
}

const rotated = (manifest: Manifest, work: RekeyWork) =>
  sameKeys(manifest.encryption.recipients, work.recipients.fingerprints);

/**
 * The new file, once for every store so their copies stay alike. A manifest that names the new
 * recipients already fixes it (an earlier attempt got that far): its file is fetched back if this
 * host no longer has it. Otherwise the file an earlier attempt finished is used, or a copy is
 * re-encrypted.
 */
async function newFile(
  copies: Copy[],
  item: RekeyItem,
  work: RekeyWork,
): Promise<{ file: NewFile; reencrypted: boolean }> {
  await mkdir(work.workDir, { recursive: true, mode: 0o700 });
  const path = join(work.workDir, basename(item.key));
  const kept = await keptFile(path);
  const fixed = copies.find((c) => rotated(c.manifest, work))?.manifest;
  if (fixed) {
    if (kept?.sha256 === fixed.file.sha256) return { file: kept, reencrypted: false };
    const copy = copies.find((c) => c.manifest === fixed)!;
    work.onProgress?.({ step: `fetch the new file back from ${copy.location}` });
    await fetchTo(copy.store, fixed.file.key, path, fixed.file, work.signal);
    return {
      file: await keep(path, { ...fixed.file, recipients: fixed.encryption.recipients }),
      reencrypted: false,
    };
  }
  if (kept && sameKeys(kept.recipients, work.recipients.fingerprints))
    return { file: kept, reencrypted: false };
  return { file: await reencryptFromAny(copies, path, work), reencrypted: true };
}

/** The file an earlier attempt finished, when its record and size still agree. */
async function keptFile(path: string): Promise<NewFile | undefined> {
  try {
    const record = JSON.parse(await readFile(`${path}.json`, 'utf8')) as NewFile;
    return (await stat(path)).size === record.bytes ? { ...record, path } : undefined;
  } catch {
    return undefined;
  }
}

async function keep(path: string, facts: Omit<NewFile, 'path'>): Promise<NewFile> {
  const file = { path, bytes: facts.bytes, sha256: facts.sha256, recipients: facts.recipients };
  await writeFile(`${path}.json`, JSON.stringify(file), { mode: 0o600 });
  return file;
}

/** The local copy first (no download), then the bucket's unless it is archived; the next when one is damaged. */
async function reencryptFromAny(copies: Copy[], path: string, work: RekeyWork): Promise<NewFile> {
  if (!work.opener) {
    throw configError(
      'GPG_PRIVATE_KEY_FILE: not set on this worker; re-encrypting needs the current private key',
    );
  }
  const sources = [
    ...copies.filter((c) => c.location === 'local'),
    ...copies.filter((c) => c.location === 'remote'),
  ];
  let failure: unknown;
  for (const source of sources) {
    const stored = await source.store.stat(source.manifest.file.key);
    if (stored?.size !== source.manifest.file.bytes) continue;
    if (stored.archived) continue;
    try {
      work.onProgress?.({ step: `re-encrypt the ${source.location} copy` });
      return await reencrypt(source, path, work);
    } catch (error) {
      if (work.signal?.aborted) throw error;
      failure = error;
    }
  }
  throw (
    failure ??
    new BackupError(
      'DownloadFailed',
      `${copies[0]!.manifest.file.key}: no complete, readable copy to re-encrypt`,
      {
        retryable: false,
        hint: 'run backupctl reread; an archived copy must be thawed first',
      },
    )
  );
}

/**
 * One pass, nothing in memory or on disk in the clear: read the stored file (hashed), decrypt it with
 * the current key, hash the plaintext, encrypt it to the new recipients, hash that, write it to a
 * .partial file. Kept only when the stored file and the plaintext match the manifest, after the
 * decrypter checked the message's integrity (its MDC) at the end.
 */
async function reencrypt(source: Copy, path: string, work: RekeyWork): Promise<NewFile> {
  const { manifest } = source;
  const partial = `${path}.partial`;
  const storedHash = new HashingStream();
  const archiveHash = new HashingStream();
  const newHash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  const where = source.store.describe(manifest.file.key);
  try {
    const stored = chain(await source.store.read(manifest.file.key), storedHash);
    const plaintext = chain(await work.opener!.open(stored), archiveHash);
    const sealed = await work.recipients.sealer.seal(plaintext);
    await pipeline(sealed, newHash, writer, { signal: work.signal });
    if (storedHash.bytes !== manifest.file.bytes || storedHash.digest() !== manifest.file.sha256) {
      throw new BackupError(
        'DownloadFailed',
        `${where}: does not match its manifest (size or SHA-256); not re-encrypted`,
        {
          retryable: false,
        },
      );
    }
    const archive = { bytes: archiveHash.bytes, sha256: archiveHash.digest() };
    if (archive.bytes !== manifest.archive.bytes || archive.sha256 !== manifest.archive.sha256) {
      throw new BackupError(
        'DecryptionFailed',
        `${where}: decrypts to ${archive.bytes} bytes with sha256 ${archive.sha256}, the manifest says ${manifest.archive.bytes} with ${manifest.archive.sha256}`,
        { retryable: false },
      );
    }
    await rename(partial, path);
  } catch (error) {
    await discardPartial(writer, partial);
    throw ioFailure(error, 'EncryptionFailed', `cannot write ${partial}`, work.signal);
  }
  return keep(path, {
    bytes: newHash.bytes,
    sha256: newHash.digest(),
    recipients: work.recipients.fingerprints,
  });
}

/** source through a pass-through stage; a failure of either destroys the other, so it reaches the reader. */
function chain(source: Readable, stage: Transform): Transform {
  return pipe(source, stage, () => undefined);
}

/** Copies a stored object to a file on this host, keeping it only when it is the file the manifest names. */
async function fetchTo(
  store: BackupStore,
  key: string,
  path: string,
  expected: { bytes: number; sha256: string },
  signal?: AbortSignal,
): Promise<void> {
  const partial = `${path}.partial`;
  const hash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  try {
    await pipeline(await store.read(key), hash, writer, { signal });
    if (hash.bytes !== expected.bytes || hash.digest() !== expected.sha256) {
      throw new BackupError('DownloadFailed', `${store.describe(key)}: does not match its manifest`, {
        retryable: false,
      });
    }
    await rename(partial, path);
  } catch (error) {
    await discardPartial(writer, partial);
    throw ioFailure(error, 'DownloadFailed', `cannot write ${partial}`, signal);
  }
}

/**
 * The key IDs the message's packets say it is encrypted to must be exactly the new recipients'. Only
 * the first packets are read: they come before the encrypted data.
 */
async function checkEncryptedTo(path: string, expected: string[]): Promise<void> {
  const stream = createReadStream(path);
  let found: string[];
  try {
    const message = await openpgp.readMessage({
      binaryMessage: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    });
    found = message.getEncryptionKeyIDs().map((id) => id.toHex().toUpperCase());
  } finally {
    stream.destroy();
  }
  if (!sameKeys(found, expected)) throw wrongRecipients(path, found, expected);
}

/**
 * Moves one store's copy on from where it stands: old → the new file at <key>.rekey, checked, and
 * the manifest naming it → the new file under the backup's own name, checked, and the manifest
 * naming it → the temporary copy removed.
 */
async function swap(
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
    manifest = await pointAt(copy, item, manifest, temporary, file, etag, remoteRecord);
  }
  if (manifest.file.key !== item.key) {
    const etag = await put(copy, item.key, file, work, true);
    manifest = await pointAt(copy, item, manifest, item.key, file, etag, remoteRecord);
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
  await copy.store.putBytes(item.manifestKey, serializeManifest(updated));
  return updated;
}
