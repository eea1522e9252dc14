import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { listTrustedBackups, readSignedManifest, type Judge } from '../storage/catalog.js';
import type { Config } from '../config/index.js';
import { BackupError, configError } from '../core/errors.js';
import { inHistory, parseManifest, type Manifest } from '../core/manifest.js';
import { manifestKeyFor } from '../core/naming.js';
import type { RestoreRequest, RestoreSource } from '../core/restore/request.js';
import { newestBefore, relativeS3Key } from '../core/restore/source.js';
import { untrustedError, signatureKeyFor, type TrustPolicy, type Verdict } from '../core/trust.js';
import { judgeCopy, trustPolicyOf } from '../crypto/signing.js';
import { storeList, type Stores } from '../storage/index.js';

/** A complete backup found for a restore: its manifest, and the one copy the restore reads. */
export interface FoundBackup {
  manifest: Manifest;
  /** 'file': a path on this host given by the user; 'local': BACKUP_DIR; 'remote': the bucket. */
  from: 'file' | 'local' | 'remote';
  /** The store key (local, remote) or the absolute path (file). */
  key: string;
  location: string;
  /** Where the copy is, for messages and the log: a path or an s3:// address. */
  where: string;
  /** The fingerprint of the trusted key that signed it; absent when accepted unsigned (--allow-unsigned). */
  signer?: string;
  /** Newer backups --latest passed over, each with the reason it is not trusted. */
  skipped?: string[];
}

const notFound = (message: string) =>
  new BackupError('DownloadFailed', message, {
    retryable: false,
    hint: 'list the backups with backupctl list',
  });

/**
 * Resolves what the user asked for to one complete backup (with its manifest) that the worker's trust
 * policy accepts, or says why not: an untrusted backup is refused (Untrusted) before any of it is read.
 */
export async function findBackup(
  config: Config,
  stores: Stores,
  source: RestoreSource,
  policy: TrustPolicy,
): Promise<FoundBackup> {
  if ('file' in source) return findFile(source.file, policy);
  if ('s3Key' in source) return findRemote(config, stores, source.s3Key, policy);
  return findLatest(config, stores, policy, source.before);
}

/**
 * The worker's trust policy for one restore. --allow-unsigned is an escape hatch for old unsigned
 * backups, never for a bad or unknown signature, and a production worker refuses it.
 */
export async function restoreTrustPolicy(config: Config, request: RestoreRequest): Promise<TrustPolicy> {
  if (request.allowUnsigned && config.environment === 'production') {
    throw new BackupError(
      'NotPermitted',
      '--allow-unsigned: a production worker restores signed backups only',
      { hint: 'restore a signed backup (backupctl list shows the trusted ones); nothing was touched' },
    );
  }
  return trustPolicyOf(config, { allowUnsigned: request.allowUnsigned });
}

/** The signer of a trusted backup, or the Untrusted error naming it. */
function trustedOrThrow(verdict: Verdict, where: string): Pick<FoundBackup, 'signer'> {
  if (!verdict.trusted) throw untrustedError(where, verdict.reason);
  return verdict.signer ? { signer: verdict.signer } : {};
}

async function findFile(path: string, policy: TrustPolicy): Promise<FoundBackup> {
  const absolute = resolve(path);
  const manifestName = manifestKeyFor(basename(absolute));
  if (!manifestName) {
    throw configError(`--file: ${path} is not a backup file (<prefix>-YYYYMMDD-HHMMSS.dump[.zst][.gpg])`);
  }
  const manifestPath = join(dirname(absolute), manifestName);
  const text = await readFile(manifestPath, 'utf8').catch(() => {
    throw notFound(`--file: ${path}: no manifest beside it (${manifestName}); it is not a complete backup`);
  });
  const manifest = parseManifest(text, manifestPath);
  if (manifest.file.name !== basename(absolute)) {
    throw notFound(`--file: ${manifestPath} describes ${manifest.file.name}, not ${basename(absolute)}`);
  }
  const signatureText = await readFile(signatureKeyFor(manifestPath), 'utf8').catch(() => undefined);
  const archive = await stat(absolute).catch(() => undefined);
  const verdict = await judgeCopy({ manifestText: text, signatureText, manifest, archive }, policy);
  const signer = trustedOrThrow(verdict, absolute);
  const found = { from: 'file', key: absolute, location: dirname(absolute), where: absolute } as const;
  return { manifest: inHistory(manifest), ...found, ...signer };
}

async function findRemote(
  config: Config,
  stores: Stores,
  typedKey: string,
  policy: TrustPolicy,
): Promise<FoundBackup> {
  const remote = stores.remote;
  if (!remote || !config.s3) throw configError('--s3-key: no bucket is configured (S3_BUCKET)');
  const key = relativeS3Key(typedKey, config.s3.prefix);
  if (!key) {
    throw configError(
      `--s3-key: "${typedKey}" is not a backup file under S3_PREFIX (${config.s3.prefix}<prefix>-YYYYMMDD-HHMMSS.dump[.zst][.gpg])`,
    );
  }
  const signed = await readSignedManifest(remote, manifestKeyFor(key)!);
  const where = remote.describe(key);
  const verdict = await judgeCopy({ ...signed, archive: await remote.stat(key) }, policy);
  const signer = trustedOrThrow(verdict, where);
  const found = { from: 'remote', key, location: remote.location, where } as const;
  return { manifest: inHistory(signed.manifest), ...found, ...signer };
}

/**
 * The newest complete, trusted backup of this database; the local copy when there is one (no
 * download). Newer untrusted ones (a planted future-dated object) are passed over and named.
 */
async function findLatest(
  config: Config,
  stores: Stores,
  policy: TrustPolicy,
  before?: string,
): Promise<FoundBackup> {
  const now = new Date();
  const judge: Judge = (copy) => judgeCopy(copy, policy, now);
  const ours = (e: { manifest: Manifest }) => e.manifest.database === config.database.name;
  const listed = await listTrustedBackups(storeList(stores), judge);
  const entry = newestBefore(listed.entries.filter(ours), before);
  const passedOver = listed.refused.filter(
    (r) =>
      r.database === config.database.name &&
      (!entry || r.createdAt > entry.manifest.createdAt) &&
      (!before || Date.parse(r.createdAt) < Date.parse(before)),
  );
  const skipped = passedOver.map((r) => `${r.where}: not trusted: ${r.reason}`);
  if (!entry) {
    throw notFound(
      `no complete, trusted backup of database "${config.database.name}"${before ? ` taken before ${before}` : ''}${skipped.length ? ` (passed over: ${skipped.join('; ')})` : ''}`,
    );
  }
  const local = entry.locations.includes(stores.local.location);
  const store = local ? stores.local : stores.remote!;
  const key = entry.manifest.file.key;
  const where = store.describe(key);
  return {
    manifest: inHistory(entry.manifest),
    from: local ? 'local' : 'remote',
    key,
    location: store.location,
    where,
    ...(entry.signer ? { signer: entry.signer } : {}),
    ...(skipped.length ? { skipped } : {}),
  };
}

/** Size and SHA-256 (hex) of a file, read once. */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}
