import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { listCompleteBackups, readManifest } from '../storage/catalog.js';
import type { Config } from '../config/index.js';
import { BackupError, configError } from '../core/errors.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { manifestKeyFor } from '../core/naming.js';
import type { RestoreSource } from '../core/restore/request.js';
import { newestBefore, relativeS3Key } from '../core/restore/source.js';
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
}

const notFound = (message: string) =>
  new BackupError('DownloadFailed', message, {
    retryable: false,
    hint: 'list the backups with backupctl list',
  });

/** Resolves what the user asked for to one complete backup (with its manifest), or says why not. */
export async function findBackup(
  config: Config,
  stores: Stores,
  source: RestoreSource,
): Promise<FoundBackup> {
  if ('file' in source) return findFile(source.file);
  if ('s3Key' in source) return findRemote(config, stores, source.s3Key);
  return findLatest(config, stores, source.before);
}

async function findFile(path: string): Promise<FoundBackup> {
  const absolute = resolve(path);
  const manifestName = manifestKeyFor(basename(absolute));
  if (!manifestName) {
    throw configError(`--file: ${path} is not a backup file (<prefix>-YYYYMMDD-HHMMSS.dump[.gpg])`);
  }
  const manifestPath = join(dirname(absolute), manifestName);
  const text = await readFile(manifestPath, 'utf8').catch(() => {
    throw notFound(`--file: ${path}: no manifest beside it (${manifestName}); it is not a complete backup`);
  });
  const manifest = parseManifest(text, manifestPath);
  if (manifest.file.name !== basename(absolute)) {
    throw notFound(`--file: ${manifestPath} describes ${manifest.file.name}, not ${basename(absolute)}`);
  }
  return { manifest, from: 'file', key: absolute, location: dirname(absolute), where: absolute };
}

async function findRemote(config: Config, stores: Stores, typedKey: string): Promise<FoundBackup> {
  const remote = stores.remote;
  if (!remote || !config.s3) throw configError('--s3-key: no bucket is configured (S3_BUCKET)');
  const key = relativeS3Key(typedKey, config.s3.prefix);
  if (!key) {
    throw configError(
      `--s3-key: "${typedKey}" is not a backup file under S3_PREFIX (${config.s3.prefix}<prefix>-YYYYMMDD-HHMMSS.dump[.gpg])`,
    );
  }
  const manifest = await readManifest(remote, manifestKeyFor(key)!);
  return { manifest, from: 'remote', key, location: remote.location, where: remote.describe(key) };
}

/** The newest complete backup of this database; the local copy when there is one (no download). */
async function findLatest(config: Config, stores: Stores, before?: string): Promise<FoundBackup> {
  const entries = (await listCompleteBackups(storeList(stores))).filter(
    (e) => e.manifest.database === config.database.name,
  );
  const entry = newestBefore(entries, before);
  if (!entry) {
    throw notFound(
      `no complete backup of database "${config.database.name}"${before ? ` taken before ${before}` : ''}`,
    );
  }
  const local = entry.locations.includes(stores.local.location);
  const store = local ? stores.local : stores.remote!;
  const key = entry.manifest.file.key;
  const where = store.describe(key);
  return { manifest: entry.manifest, from: local ? 'local' : 'remote', key, location: store.location, where };
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
