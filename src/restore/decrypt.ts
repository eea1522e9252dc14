import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
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
  targetPath: string;
  /**
   * Whether to read back a plaintext the decrypter wrote itself, for its SHA-256. A plaintext that
   * passes through this process is hashed on its way, whatever this says.
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
  { opener, decompressor, targetPath, hashWritten, signal }: DecryptOptions,
): Promise<Decrypted> {
  const partial = `${targetPath}.partial`;
  try {
    const written =
      opener.openFile && !decompressor?.stage
        ? await decryptToFile(opener.openFile.bind(opener), sealedPath, partial, hashWritten, signal)
        : await decryptThrough(opener, decompressor, sealedPath, partial, signal);
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
 * The plaintext comes back through this process: decompressed (zstd) and hashed on its way into the
 * file; the compressed stream is hashed too, before it is decompressed.
 */
async function decryptThrough(
  opener: Opener,
  decompressor: Compressor | undefined,
  sealedPath: string,
  partial: string,
  signal?: AbortSignal,
): Promise<Decrypted> {
  const plaintext = opener.openPath
    ? opener.openPath(sealedPath)
    : await opener.open(createReadStream(sealedPath, { highWaterMark: 1024 * 1024 }));
  const compressedHash = decompressor?.stage ? new HashingStream() : undefined;
  const archive = compressedHash
    ? decompressor!.decompress(chain(plaintext, compressedHash), signal)
    : plaintext;
  const hash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  try {
    await pipeline(archive, hash, writer, { signal });
    const compressed = compressedHash && { bytes: compressedHash.bytes, sha256: compressedHash.digest() };
    return { bytes: hash.bytes, sha256: hash.digest(), ...(compressed ? { compressed } : {}) };
  } catch (error) {
    // Before the caller removes the file: a writer still opening it would create it again.
    await discardPartial(writer, partial);
    throw error;
  }
}
