import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { backupCopies, newestFirst, readSignedManifest, type BackupCopy } from '../storage/catalog.js';
import type { Config } from '../config/index.js';
import type { ToolPlace } from '../core/command.js';
import { BackupError, configError } from '../core/errors.js';
import { isEncrypted } from '../core/manifest.js';
import { archiveFileName } from '../core/naming.js';
import { untrustedError, type TrustPolicy, type Verdict } from '../core/trust.js';
import { openerForBackup, type PrivateKey } from '../crypto/keys.js';
import { judgeCopy } from '../crypto/signing.js';
import { fetchCheckDecrypt } from '../restore/fetch.js';
import { readWholeArchive } from '../restore/target.js';
import { storeList, type Stores } from '../storage/index.js';
import type { LocalStore } from '../storage/types.js';

// The monthly re-read: every copy of every retained backup fetched, checked, decrypted and read
// whole by pg_restore, without restoring it, so bit rot or a lost key shows before a restore needs it.

/** One copy to re-read, named so a person can find it. */
export interface RereadCopy {
  manifestKey: string;
  /** The archive's key in that store. */
  key: string;
  location: 'local' | 'remote';
  createdAt: string;
  encrypted: boolean;
  /** Why this copy is not read (an archived object would need a thaw); it is reported, not failed. */
  skip?: string;
}

/**
 * Whether a copy is authentic: signed by a trusted key, not dated in the future, encrypted where keys
 * are. Its size is left to the re-read, whose failure it is to report (a truncated archive).
 */
function authenticity(
  copy: Pick<BackupCopy, 'manifestText' | 'signatureText' | 'manifest'>,
  policy: TrustPolicy,
): Promise<Verdict> {
  return judgeCopy({ ...copy, archive: { size: copy.manifest.file.bytes } }, policy);
}

/**
 * Every copy with a manifest of this database, newest first: a truncated or lost archive included.
 * A copy that is not authentic is not read (nothing of it reaches pg_restore): skipped, with the reason.
 */
export async function listRereadCopies(
  config: Config,
  stores: Stores,
  policy: TrustPolicy,
): Promise<RereadCopy[]> {
  const copies = [];
  for await (const copy of backupCopies(storeList(stores))) {
    if (copy.manifest.database !== config.database.name) continue;
    const verdict = await authenticity(copy, policy);
    copies.push({ ...copy, untrusted: verdict.trusted ? undefined : verdict.reason });
  }
  return newestFirst(copies).map(({ manifestKey, manifest, store, archive, untrusted }) => {
    return {
      manifestKey,
      key: manifest.file.key,
      location: store === stores.local ? 'local' : 'remote',
      createdAt: manifest.createdAt,
      encrypted: isEncrypted(manifest),
      ...(untrusted
        ? { skip: `not trusted: ${untrusted}` }
        : archive?.archived
          ? { skip: `archived (${archive.storageClass}): reading it needs a thaw, which costs a retrieval` }
          : {}),
    };
  });
}

export interface RereadWork {
  /** A folder of its own for the download and the plaintext; removed when the copy is done. */
  workDir: string;
  /** Where pg_restore runs: here, or in DOCKER_CONTAINER. */
  toolsIn: ToolPlace;
  /** This worker's restore key: the opener of each encrypted copy. */
  privateKey: PrivateKey;
  /** Checked again as the copy is read: a manifest replaced since the listing is refused too. */
  policy: TrustPolicy;
  signal?: AbortSignal;
  onProgress?: (progress: { step: string; bytes?: number }) => void;
}

/**
 * Reads one copy as a restore would, up to pg_restore: the archive as stored (size), its SHA-256,
 * decryption and the archive's SHA-256, then every data block. Throws a typed error saying what is
 * wrong; a damaged copy is not retried.
 */
export async function rereadCopy(
  stores: Stores<LocalStore>,
  copy: RereadCopy,
  work: RereadWork,
): Promise<{ fileBytes: number; archiveBytes: number }> {
  const store = copy.location === 'local' ? stores.local : stores.remote;
  if (!store) throw configError('S3_BUCKET: not set on this worker, so it cannot read the remote copy');
  const signed = await readSignedManifest(store, copy.manifestKey);
  const { manifest } = signed;
  const where = store.describe(copy.key);
  const verdict = await authenticity(signed, work.policy);
  if (!verdict.trusted) throw untrustedError(where, verdict.reason);
  const stored = await store.stat(copy.key);
  if (stored?.size !== manifest.file.bytes) {
    throw new BackupError(
      'DownloadFailed',
      `${where}: ${stored ? `${stored.size} bytes, the manifest says ${manifest.file.bytes}: the stored object is truncated or damaged` : 'missing: the manifest is there, the archive is not'}`,
      { retryable: false },
    );
  }
  await mkdir(work.workDir, { recursive: true, mode: 0o700 });
  try {
    work.onProgress?.({ step: 'fetch, check, decrypt' });
    const { archivePath } = await fetchCheckDecrypt({
      source:
        copy.location === 'local'
          ? { path: stores.local.pathOf(copy.key) }
          : { store, key: copy.key, downloadPath: join(work.workDir, `${manifest.file.name}.download`) },
      manifest,
      where,
      opener: await openerForBackup(manifest, work.privateKey),
      archivePath: join(work.workDir, archiveFileName(manifest.file.name)),
      // A reread is there to check every copy, down to the archive's own SHA-256.
      hashArchive: true,
      signal: work.signal,
      onProgress: (bytes) => work.onProgress?.({ step: 'fetch, check, decrypt', bytes }),
    });
    work.onProgress?.({ step: 'read' });
    await readWholeArchive(archivePath, work.toolsIn, work.signal);
    return { fileBytes: manifest.file.bytes, archiveBytes: manifest.archive.bytes };
  } finally {
    await rm(work.workDir, { recursive: true, force: true });
  }
}
