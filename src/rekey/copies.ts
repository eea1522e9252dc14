import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readSignedManifest } from '../storage/catalog.js';
import { untrustedError } from '../core/trust.js';
import { judgeCopy } from '../crypto/signing.js';
import { BackupError, ioFailure } from '../core/errors.js';
import type { Stores } from '../storage/index.js';
import type { BackupStore } from '../storage/types.js';
import { HashingStream } from '../stream/hashing.js';
import { discardPartial } from '../stream/partial-file.js';
import { locationOf, remoteFirst, type RekeyItem } from './plan.js';
import { reencryptFromAny } from './reencrypt.js';
import { sameKeys } from './recipients.js';
import { keep, keptFile, rotated, type Copy, type NewFile, type RekeyWork } from './work.js';

// Key rotation (`backupctl rekey`) of one backup, first step: its copies in the stores, and the one
// new file they all get (an earlier attempt's, fetched back, or re-encrypted now).

export async function copiesOf(
  stores: Stores,
  item: RekeyItem,
  work: Pick<RekeyWork, 'trust'>,
): Promise<Copy[]> {
  const copies: Copy[] = [];
  for (const store of remoteFirst(stores)) {
    if (!(await store.stat(item.manifestKey))) continue;
    const signed = await readSignedManifest(store, item.manifestKey);
    copies.push({
      location: locationOf(stores, store),
      store,
      manifest: signed.manifest,
      signed: await checkTrusted(store, signed, work),
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

/**
 * The new file, once for every store so their copies stay alike. A manifest that names the new
 * recipients already fixes it (an earlier attempt got that far): its file is fetched back if this
 * host no longer has it. Otherwise the file an earlier attempt finished is used, or a copy is
 * re-encrypted.
 */
export async function newFile(
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
 * Refuses a copy the worker does not trust (its size is the rotation's own check); an unsigned one
 * is rotated and stays unsigned. Returns whether it is signed by a trusted key.
 */
async function checkTrusted(
  store: BackupStore,
  signed: Awaited<ReturnType<typeof readSignedManifest>>,
  work: Pick<RekeyWork, 'trust'>,
): Promise<boolean> {
  if (!work.trust) return Boolean(signed.signatureText);
  const policy = { ...work.trust.policy, allowUnsigned: true };
  const archive = { size: signed.manifest.file.bytes };
  const verdict = await judgeCopy({ ...signed, archive }, policy);
  if (!verdict.trusted) throw untrustedError(store.describe(signed.manifest.file.key), verdict.reason);
  return Boolean(verdict.signer);
}
