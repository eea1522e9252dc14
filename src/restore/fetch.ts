import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { BackupError, configError, damagedCopyHint, ioFailure } from '../core/errors.js';
import { compressionOf } from '../core/compression.js';
import type { Manifest } from '../core/manifest.js';
import { timed } from '../core/timed.js';
import type { Opener } from '../crypto/open.js';
import { messageOf } from '../crypto/seal.js';
import type { BackupStore } from '../storage/types.js';
import { compressorFor, type Compressor } from '../stream/compression.js';
import { decryptFile, type Decrypted } from './decrypt.js';

/** Where the stored file is: a file on this host, read in place, or an object to download. */
export type StoredFile =
  | { path: string }
  | {
      store: BackupStore;
      key: string;
      /** The download goes here as it runs, so that a retry resumes after its bytes. */
      downloadPath: string;
    };

export interface FetchCheckDecryptOptions {
  source: StoredFile;
  manifest: Manifest;
  /** Where the file is, for messages: a path or an s3:// address. */
  where: string;
  /**
   * What opens this backup, as openerForBackup chose it from the manifest: noDecryption when it is
   * not encrypted; undefined when it is, and this worker holds no private key.
   */
  opener: Opener | undefined;
  /** Where the plaintext archive goes (encrypted backups, and downloads of unencrypted ones). */
  archivePath: string;
  /**
   * Whether to read back an archive that gpg wrote, for its SHA-256 (its size is always compared).
   * The stored file's SHA-256 and OpenPGP's integrity check (gpg's DECRYPTION_OKAY) already say it
   * is the archive the backup encrypted, so this checks our chain of checks: a reread, which exists
   * to check, does it; a restore, whose time is its RTO, does not (0.3 s of 1.5 s at 341 MB).
   */
  hashArchive: boolean;
  signal?: AbortSignal;
  onProgress?: (bytesRead: number) => void;
}

export interface FetchCheckDecryptResult {
  archivePath: string;
  /** Each step's own time: they run one after the other. */
  fetch: { bytes: number; resumedFrom: number; downloaded: boolean; durationMs: number };
  check: { sha256: string; durationMs: number };
  decrypt: { bytes: number; durationMs: number };
}

const READ_CHUNK_BYTES = 1024 * 1024;
const DOWNLOAD_BUFFER_BYTES = 8 * READ_CHUNK_BYTES;

/**
 * The restore's first three steps, one after the other: read the stored file to its end, hashing
 * it (downloading it when remote, resuming after what an earlier attempt kept; a local copy is read
 * in place); check its size and SHA-256 against the manifest (else DownloadFailed: damaged,
 * truncated or swapped; the download is not kept); only then decrypt it into archivePath, a zstd
 * stream decompressed on its way there (the same pass: no extra one over the disk), and compare the
 * archive with the manifest (else DecryptionFailed). A failure leaves no plaintext.
 *
 * Why not decrypt as the bytes arrive: gpg reads 8 KiB at a time, so through a pipe each of its
 * reads waits on this process; reading the file it waits on nobody. Measured on 341 MB, 8 rounds
 * each: this took a median 1.17-1.21 s and 1.0 s of CPU, decrypting as the bytes arrived through a
 * pipe 1.16-1.33 s and 1.2-1.3 s of CPU.
 */
export async function fetchCheckDecrypt(options: FetchCheckDecryptOptions): Promise<FetchCheckDecryptResult> {
  const { opener } = options;
  if (!opener) {
    throw configError('GPG_PRIVATE_KEY_FILE: not set on this worker; the backup is encrypted');
  }
  const fetched = await timed(() => fetchStored(options));
  const check = await timed(() => checkFile(fetched, options));
  const decompressor = compressorFor(compressionOf(options.manifest));
  const archive = await timed(() =>
    opener.decrypts || decompressor.stage
      ? decrypt(fetched.path, opener, decompressor, options)
      : keepPlain(fetched.path, options),
  );
  // At once: a file removed before the kernel has written it out costs nothing, and kept, it
  // would be written to disk while pg_restore needs the disk.
  if ('store' in options.source) await rm(options.source.downloadPath, { force: true });
  return {
    archivePath: archive.path,
    fetch: {
      bytes: fetched.bytes,
      resumedFrom: fetched.resumedFrom,
      downloaded: 'store' in options.source,
      durationMs: fetched.durationMs,
    },
    check,
    decrypt: { bytes: archive.bytes, durationMs: archive.durationMs },
  };
}

/** The stored file, read to its end: where it now is, its size and its SHA-256. */
interface Fetched {
  path: string;
  bytes: number;
  sha256: string;
  resumedFrom: number;
}

/**
 * Reads the stored file to its end, counting and hashing every byte: a local copy in place; an
 * object into downloadPath, after the bytes an earlier attempt kept there (read back first).
 */
async function fetchStored({
  source,
  manifest,
  onProgress,
  signal,
}: FetchCheckDecryptOptions): Promise<Fetched> {
  const hash = createHash('sha256');
  let bytes = 0;
  const note = (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    onProgress?.(bytes);
  };
  const digest = () => hash.digest('hex');
  if ('path' in source) {
    await readChunks(source.path, note, { signal }).catch((error: unknown) => {
      if (signal?.aborted) throw error;
      throw new BackupError('DownloadFailed', `cannot read ${source.path}: ${messageOf(error)}`, {
        retryable: (error as { code?: unknown }).code !== 'ENOENT',
        hint: damagedCopyHint(true),
      });
    });
    return { path: source.path, bytes, sha256: digest(), resumedFrom: 0 };
  }
  const resumedFrom = await keptBytes(source.downloadPath, manifest.file.bytes);
  if (resumedFrom > 0) await readChunks(source.downloadPath, note, { end: resumedFrom - 1, signal });
  await download(source, resumedFrom, note, signal);
  return { path: source.downloadPath, bytes, sha256: digest(), resumedFrom };
}

async function readChunks(
  path: string,
  onChunk: (chunk: Buffer) => void,
  options: { end?: number; signal?: AbortSignal },
): Promise<void> {
  for await (const chunk of createReadStream(path, { ...options, highWaterMark: READ_CHUNK_BYTES }))
    onChunk(chunk as Buffer);
}

/** The bytes an earlier attempt kept, when they can be part of this file (not more than its size). */
async function keptBytes(partial: string, size: number): Promise<number> {
  const kept = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  return kept <= size ? kept : 0;
}

/**
 * Appends the object's bytes after resumedFrom to its downloadPath, passing each chunk on once it
 * is queued for the file: what an interrupted attempt fetched is never fetched again.
 */
async function download(
  { store, key, downloadPath }: Extract<StoredFile, { store: BackupStore }>,
  resumedFrom: number,
  onChunk: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<void> {
  // Room for a few chunks: waiting for each write to reach the file before reading the next chunk
  // would make the download and the disk take turns.
  const writer = createWriteStream(downloadPath, {
    flags: resumedFrom > 0 ? 'a' : 'w',
    mode: 0o600,
    highWaterMark: DOWNLOAD_BUFFER_BYTES,
  });
  // A failed write (a full disk) stays in writer.errored and fails the next chunk: with no
  // listener it would be thrown out of the worker. It names the download, not the archive.
  writer.on('error', () => {});
  const cannotKeep = (error: unknown) => ioFailure(error, 'DownloadFailed', `cannot write ${downloadPath}`);
  let writeFailure: Error | undefined;
  try {
    for await (const chunk of await store.read(key, { start: resumedFrom })) {
      signal?.throwIfAborted();
      if (writer.errored) throw cannotKeep(writer.errored);
      if (!writer.write(chunk))
        await once(writer, 'drain').catch((error: unknown) => Promise.reject(cannotKeep(error)));
      onChunk(chunk as Buffer);
    }
  } finally {
    writeFailure = await closed(writer);
  }
  // Every chunk was read; the last ones must be in the file too: an unencrypted download becomes
  // the archive itself.
  if (writeFailure) throw cannotKeep(writeFailure);
}

/** Ends a file writer once its queued writes are done; resolves to the write's failure, if any. */
function closed(writer: WriteStream): Promise<Error | undefined> {
  return new Promise((resolve) =>
    writer.end((error?: Error | null) => resolve(error ?? writer.errored ?? undefined)),
  );
}

/** The plaintext archive; its SHA-256 when it was computed here (decrypted, not read as stored). */
interface ArchiveFile extends Decrypted {
  path: string;
}

/**
 * Decrypts (and decompresses, zstd) into archivePath and compares the archive with the manifest; a
 * failure leaves nothing.
 */
async function decrypt(
  sealedPath: string,
  opener: Opener,
  decompressor: Compressor,
  options: FetchCheckDecryptOptions,
): Promise<ArchiveFile> {
  try {
    const written = await decryptFile(sealedPath, {
      opener,
      decompressor,
      archiveBytes: options.manifest.archive.bytes,
      targetPath: options.archivePath,
      hashWritten: options.hashArchive,
      signal: options.signal,
    });
    checkArchive(written, options);
    return { path: options.archivePath, ...written };
  } catch (error) {
    await rm(options.archivePath, { force: true });
    throw error;
  }
}

/** An unencrypted backup is its own archive: read in place, or the download renamed into place. */
async function keepPlain(path: string, options: FetchCheckDecryptOptions): Promise<ArchiveFile> {
  const bytes = options.manifest.file.bytes;
  if ('path' in options.source) return { path, bytes };
  await rename(path, options.archivePath);
  return { path: options.archivePath, bytes };
}

/**
 * The file's SHA-256, once its size and SHA-256 are the manifest's. A file that is not the backup
 * must not be resumed by the next attempt: its download goes.
 */
async function checkFile(fetched: Fetched, { manifest, where, source }: FetchCheckDecryptOptions) {
  const expected = manifest.file;
  const { bytes, sha256 } = fetched;
  if (bytes === expected.bytes && sha256 === expected.sha256) return { sha256 };
  if ('store' in source) await rm(source.downloadPath, { force: true });
  throw new BackupError(
    'DownloadFailed',
    bytes < expected.bytes
      ? `${where}: ${bytes} bytes, the manifest says ${expected.bytes}: the stored file is truncated`
      : `${where}: ${bytes} bytes with sha256 ${sha256}, but the manifest says ${expected.bytes} bytes with sha256 ${expected.sha256}: the stored file is damaged or not the one backed up`,
    { retryable: false, hint: damagedCopyHint('path' in source) },
  );
}

function checkArchive(
  { bytes, sha256, compressed }: Decrypted,
  { manifest }: FetchCheckDecryptOptions,
): void {
  const stream = compressionOf(manifest).stream;
  if (compressed && stream && (compressed.bytes !== stream.bytes || compressed.sha256 !== stream.sha256)) {
    throw new BackupError(
      'DecryptionFailed',
      `the decrypted stream has ${compressed.bytes} bytes with sha256 ${compressed.sha256}, the manifest says ${stream.bytes} with sha256 ${stream.sha256}`,
      { retryable: false },
    );
  }
  const expected = manifest.archive;
  if (bytes === expected.bytes && (sha256 === undefined || sha256 === expected.sha256)) return;
  // The SHA-256s only when this one was computed (see hashArchive).
  const withSha256 = (value?: string) => (sha256 === undefined ? '' : ` with sha256 ${value}`);
  throw new BackupError(
    'DecryptionFailed',
    `the decrypted archive has ${bytes} bytes${withSha256(sha256)}, the manifest says ${expected.bytes}${withSha256(expected.sha256)}`,
    { retryable: false },
  );
}
