import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../core/compression.js';
import { chain } from '../stream/chain.js';
import type { Compressor } from '../stream/compression.js';
import { HashingStream } from '../stream/hashing.js';
import { discardPartial } from '../stream/partial-file.js';
import { ioFailure } from '../core/errors.js';
import type { Opener } from '../crypto/open.js';
import { hashFile } from './source.js';

export interface DecryptOptions {
  opener: Opener;
  /**
   * The backup's compression: a stage of ours (zstd) decompresses the plaintext on its way to the
   * file, in the same pass; pg_dump's own (gzip) and none (or none given) leave it as it is.
   */
  decompressor?: Compressor;
  /**
   * The most a decompressed archive may take (the manifest's size): zstd cannot write a byte past
   * it. Without it, a zstd stage's output is not bounded.
   */
  archiveBytes?: number;
  targetPath: string;
  /**
   * Whether to read back an archive that another program (gpg, zstd) wrote itself, for its SHA-256.
   * An archive that passes through this process (openpgp.js, no zstd) is hashed on its way, whatever
   * this says.
   */
  hashWritten: boolean;
  signal?: AbortSignal;
}

/** The plaintext written: its size, and its SHA-256 when it was computed. */
export interface Decrypted {
  bytes: number;
  sha256?: string;
  /** What the decryption gave before it was decompressed: the compressed stream (zstd only). */
  compressed?: Digest;
}

/**
 * Decrypts (and decompresses) the sealed file at sealedPath into targetPath. The plaintext is
 * unauthenticated until the last byte (see Opener.open), so it goes to a .partial file that is
 * renamed into place only once the whole file decrypted cleanly; any failure removes it.
 */
export async function decryptFile(
  sealedPath: string,
  { opener, decompressor, archiveBytes, targetPath, hashWritten, signal }: DecryptOptions,
): Promise<Decrypted> {
  const partial = `${targetPath}.partial`;
  try {
    const written = decompressor?.stage
      ? await decryptDecompress(opener, decompressor, sealedPath, partial, {
          limitBytes: archiveBytes ?? Number.MAX_SAFE_INTEGER,
          hashWritten,
          signal,
        })
      : opener.openFile
        ? await decryptToFile(opener.openFile.bind(opener), sealedPath, partial, hashWritten, signal)
        : await decryptThrough(opener, sealedPath, partial, signal);
    await rename(partial, targetPath);
    return written;
  } catch (error) {
    await rm(partial, { force: true });
    throw ioFailure(error, 'DecryptionFailed', `cannot write ${partial}`, signal);
  }
}

/**
 * The decrypter reads the sealed file and writes the plaintext itself: no byte of either passes
 * through a pipe to this process. Hashing the plaintext means reading it back from the page cache.
 */
async function decryptToFile(
  openFile: NonNullable<Opener['openFile']>,
  sealedPath: string,
  partial: string,
  hashWritten: boolean,
  signal?: AbortSignal,
): Promise<Decrypted> {
  // Created here, so the plaintext's file is ours alone (0600) whatever the decrypter's umask.
  await writeFile(partial, '', { mode: 0o600 });
  await openFile(sealedPath, partial, signal);
  return hashWritten ? hashFile(partial, signal) : { bytes: (await stat(partial)).size };
}

/**
 * Decryption into zstd, which writes the archive into the file itself: only the compressed stream
 * (a fifth of the archive) passes through this process, hashed on its way; gpg reads the sealed file
 * itself where it decrypts. Decrypting and decompressing overlap, on both cores. The archive is hashed
 * (read back from the page cache) only when asked: its size is always known.
 */
async function decryptDecompress(
  opener: Opener,
  decompressor: Compressor,
  sealedPath: string,
  partial: string,
  { limitBytes, hashWritten, signal }: { limitBytes: number; hashWritten: boolean; signal?: AbortSignal },
): Promise<Decrypted> {
  const plaintext = await openSealed(opener, sealedPath);
  const compressedHash = new HashingStream();
  // Created here, so the plaintext's file is ours alone (0600) whatever zstd's umask.
  const file = await open(partial, 'w', 0o600);
  try {
    await decompressor.decompressToFile(chain(plaintext, compressedHash), file.fd, limitBytes, signal);
  } finally {
    await file.close();
  }
  const compressed = { bytes: compressedHash.bytes, sha256: compressedHash.digest() };
  const archive = hashWritten ? await hashFile(partial, signal) : { bytes: (await stat(partial)).size };
  return { ...archive, compressed };
}

function openSealed(opener: Opener, sealedPath: string): Promise<Readable> {
  return opener.openPath
    ? Promise.resolve(opener.openPath(sealedPath))
    : opener.open(createReadStream(sealedPath, { highWaterMark: 1024 * 1024 }));
}

/** The plaintext comes back through this process (openpgp.js), hashed on its way into the file. */
async function decryptThrough(
  opener: Opener,
  sealedPath: string,
  partial: string,
  signal?: AbortSignal,
): Promise<Decrypted> {
  const archive = await openSealed(opener, sealedPath);
  const hash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  try {
    await pipeline(archive, hash, writer, { signal });
    return { bytes: hash.bytes, sha256: hash.digest() };
  } catch (error) {
    // Before the caller removes the file: a writer still opening it would create it again.
    await discardPartial(writer, partial);
    throw error;
  }
}
