import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BackupError, configError, ioFailure } from '../core/errors.js';
import type { Manifest } from '../core/manifest.js';
import type { Opener } from '../crypto/open.js';
import type { BackupStore } from '../storage/types.js';
import { decryptStream, type Decrypted } from './decrypt.js';

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
  /** Required when the backup is encrypted. */
  opener?: Opener;
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
  /** Each step's time from the start: they run over one stream, side by side. */
  fetch: { bytes: number; resumedFrom: number; downloaded: boolean; durationMs: number };
  check: { sha256: string; durationMs: number };
  decrypt: { bytes: number; durationMs: number };
}

const READ_CHUNK_BYTES = 1024 * 1024;
const DOWNLOAD_BUFFER_BYTES = 8 * READ_CHUNK_BYTES;

/**
 * The restore's first three steps in one pass over the stored file, as the backup's dump, verify
 * and encrypt are: read it (downloading it when remote, resuming after what an earlier attempt
 * kept), hash it, and decrypt it into archivePath. Nothing is used before the end: the file's size
 * and SHA-256 must match the manifest (else DownloadFailed: damaged, truncated or swapped) and so
 * must the archive's (else DecryptionFailed). A failure leaves no plaintext behind.
 */
export async function fetchCheckDecrypt(options: FetchCheckDecryptOptions): Promise<FetchCheckDecryptResult> {
  const { manifest } = options;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const encrypted = manifest.encryption.method !== 'none';
  if (encrypted && !options.opener) {
    throw configError('GPG_PRIVATE_KEY_FILE: not set on this worker; the backup is encrypted');
  }
  const reading = await readStored(options.source, manifest.file.bytes, options.onProgress);
  try {
    const archive = encrypted
      ? await decrypt(reading.stream, options)
      : await keepPlain(reading.stream, options);
    const decryptMs = elapsed();
    checkFile(reading.read, options);
    if (encrypted) checkArchive(archive, options);
    // At once: a file removed before the kernel has written it out costs nothing, and kept, it
    // would be written to disk while pg_restore needs the disk.
    if ('store' in options.source) await rm(options.source.downloadPath, { force: true });
    return {
      archivePath: archive.path,
      fetch: {
        bytes: reading.read.bytes,
        resumedFrom: reading.resumedFrom,
        downloaded: 'store' in options.source,
        durationMs: reading.read.endedAtMs ?? decryptMs,
      },
      check: { sha256: reading.read.sha256(), durationMs: decryptMs },
      decrypt: { bytes: archive.bytes, durationMs: decryptMs },
    };
  } catch (error) {
    throw await explained(error, reading.read, options);
  }
}

/** What has been read of the stored file so far. */
interface ReadState {
  bytes: number;
  /** Set when the file (or object) has been read to its end. */
  endedAtMs?: number;
  sha256(): string;
}

/**
 * The stored file's bytes as a stream, counted and hashed on the way. A download appends to its
 * downloadPath as it goes; the next attempt reads that back first, then fetches only the rest.
 */
async function readStored(
  source: StoredFile,
  size: number,
  onProgress?: (bytes: number) => void,
): Promise<{ stream: Readable; read: ReadState; resumedFrom: number }> {
  const hash = createHash('sha256');
  const started = performance.now();
  let digest: string | undefined;
  const read: ReadState = { bytes: 0, sha256: () => (digest ??= hash.digest('hex')) };
  const note = (chunk: Buffer) => {
    hash.update(chunk);
    read.bytes += chunk.length;
    onProgress?.(read.bytes);
  };
  const resumedFrom = 'store' in source ? await keptBytes(source.downloadPath, size) : 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    if ('path' in source) {
      for await (const chunk of createReadStream(source.path, { highWaterMark: READ_CHUNK_BYTES })) {
        note(chunk as Buffer);
        yield chunk as Buffer;
      }
    } else {
      yield* downloaded(source, resumedFrom, note);
    }
    read.endedAtMs = Math.round(performance.now() - started);
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), read, resumedFrom };
}

/** The bytes an earlier attempt kept, when they can be part of this file (not more than its size). */
async function keptBytes(partial: string, size: number): Promise<number> {
  const kept = await stat(partial).then(
    (s) => s.size,
    () => 0,
  );
  return kept <= size ? kept : 0;
}

async function* downloaded(
  source: Extract<StoredFile, { store: BackupStore }>,
  resumedFrom: number,
  note: (chunk: Buffer) => void,
): AsyncGenerator<Buffer> {
  const { downloadPath } = source;
  if (resumedFrom > 0) {
    for await (const chunk of createReadStream(downloadPath, {
      end: resumedFrom - 1,
      highWaterMark: READ_CHUNK_BYTES,
    })) {
      note(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  // Room for a few chunks: waiting for each write to reach the file before passing the chunk on
  // would make the download, the disk and the decrypter take turns (measured: 0.2-0.4 s of 1.5 s).
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
    for await (const chunk of await source.store.read(source.key, { start: resumedFrom })) {
      if (writer.errored) throw cannotKeep(writer.errored);
      // Queued for the file before it is used: what an interrupted attempt fetched (the file's
      // bytes, a prefix of the object) is never fetched again.
      if (!writer.write(chunk))
        await once(writer, 'drain').catch((error: unknown) => Promise.reject(cannotKeep(error)));
      note(chunk as Buffer);
      yield chunk as Buffer;
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

async function decrypt(sealed: Readable, options: FetchCheckDecryptOptions): Promise<ArchiveFile> {
  const written = await decryptStream(sealed, {
    opener: options.opener!,
    targetPath: options.archivePath,
    hashWritten: options.hashArchive,
    signal: options.signal,
  });
  return { path: options.archivePath, ...written };
}

/** An unencrypted backup is its own archive: read in place, or the download renamed into place. */
async function keepPlain(stream: Readable, options: FetchCheckDecryptOptions): Promise<ArchiveFile> {
  const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  await pipeline(stream, discard, { signal: options.signal });
  const bytes = options.manifest.file.bytes;
  if ('path' in options.source) return { path: options.source.path, bytes };
  await rename(options.source.downloadPath, options.archivePath);
  return { path: options.archivePath, bytes };
}

function checkFile(read: ReadState, { manifest, where }: FetchCheckDecryptOptions): void {
  const expected = manifest.file;
  if (read.bytes === expected.bytes && read.sha256() === expected.sha256) return;
  throw new BackupError(
    'DownloadFailed',
    read.bytes < expected.bytes
      ? `${where}: ${read.bytes} bytes, the manifest says ${expected.bytes}: the stored file is truncated`
      : `${where}: ${read.bytes} bytes with sha256 ${read.sha256()}, but the manifest says ${expected.bytes} bytes with sha256 ${expected.sha256}: the stored file is damaged or not the one backed up`,
    { retryable: false },
  );
}

function checkArchive({ bytes, sha256 }: Decrypted, { manifest }: FetchCheckDecryptOptions): void {
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

/**
 * The error that says what is wrong. A file read to its end that is not the manifest's explains
 * any decryption error after it (a flipped byte fails the OpenPGP integrity check too), and such a
 * download must not be resumed by the next attempt.
 */
async function explained(
  error: unknown,
  read: ReadState,
  options: FetchCheckDecryptOptions,
): Promise<unknown> {
  await rm(options.archivePath, { force: true });
  if (read.endedAtMs === undefined) return error;
  try {
    checkFile(read, options);
    return error;
  } catch (mismatch) {
    if ('store' in options.source) await rm(options.source.downloadPath, { force: true });
    return mismatch;
  }
}
