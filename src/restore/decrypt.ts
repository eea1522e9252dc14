import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../backup/hash.js';
import { ioFailure } from '../core/errors.js';
import type { Opener } from '../crypto/open.js';

export interface DecryptFileOptions {
  sourcePath: string;
  targetPath: string;
  opener: Opener;
  signal?: AbortSignal;
  /** Called every second or so with the plaintext bytes written so far. */
  onProgress?: (bytesWritten: number) => void;
}

const PROGRESS_INTERVAL_MS = 1_000;

/**
 * Decrypts sourcePath into targetPath in one streaming pass, hashing the plaintext on the way. The
 * plaintext is unauthenticated until the last byte (see Opener.open), so it goes to a .partial file
 * that is renamed into place only once the whole stream ended cleanly; any failure removes it.
 */
export async function decryptFile(options: DecryptFileOptions): Promise<{ bytes: number; sha256: string }> {
  const { sourcePath, opener, signal } = options;
  const readFailure = (error: unknown) =>
    ioFailure(error, 'DecryptionFailed', `cannot read ${sourcePath}`, signal);
  const source = await open(sourcePath).catch((error: unknown) => {
    throw readFailure(error);
  });
  try {
    const plaintext = await opener.open(source.createReadStream()).catch((error: unknown) => {
      throw readFailure(error);
    });
    return await writeThroughPartial(plaintext, options);
  } finally {
    // The stream closes it when it ends; this covers the ways it may not (a failed open, an abort).
    await source.close().catch(() => undefined);
  }
}

/** Writes plaintext to targetPath through a .partial file, hashing it; renamed only after a clean end. */
export async function writeThroughPartial(
  plaintext: Readable,
  { targetPath, signal, onProgress }: Pick<DecryptFileOptions, 'targetPath' | 'signal' | 'onProgress'>,
): Promise<{ bytes: number; sha256: string }> {
  const partial = `${targetPath}.partial`;
  const hash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  const progress = setInterval(() => onProgress?.(writer.bytesWritten), PROGRESS_INTERVAL_MS);
  try {
    await pipeline(plaintext, hash, writer, { signal });
    await rename(partial, targetPath);
    return { bytes: hash.bytes, sha256: hash.digest() };
  } catch (error) {
    await rm(partial, { force: true });
    throw ioFailure(error, 'DecryptionFailed', `cannot write ${partial}`, signal);
  } finally {
    clearInterval(progress);
  }
}
