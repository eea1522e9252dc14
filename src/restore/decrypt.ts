import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../backup/hash.js';
import { discardPartial } from '../backup/partial.js';
import { ioFailure } from '../core/errors.js';
import type { Opener } from '../crypto/open.js';

export interface DecryptOptions {
  opener: Opener;
  targetPath: string;
  signal?: AbortSignal;
  /** Called every second or so with the plaintext bytes written so far. */
  onProgress?: (bytesWritten: number) => void;
}

const PROGRESS_INTERVAL_MS = 1_000;

/**
 * Decrypts a sealed stream into targetPath, hashing the plaintext on the way. The plaintext is
 * unauthenticated until the last byte (see Opener.open), so it goes to a .partial file that is
 * renamed into place only once the whole stream ended cleanly; any failure removes it.
 */
export async function decryptStream(
  sealed: Readable,
  { opener, targetPath, signal, onProgress }: DecryptOptions,
): Promise<{ bytes: number; sha256: string }> {
  const plaintext = await opener.open(sealed);
  const partial = `${targetPath}.partial`;
  const hash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  const progress = setInterval(() => onProgress?.(writer.bytesWritten), PROGRESS_INTERVAL_MS);
  try {
    await pipeline(plaintext, hash, writer, { signal });
    await rename(partial, targetPath);
    return { bytes: hash.bytes, sha256: hash.digest() };
  } catch (error) {
    await discardPartial(writer, partial);
    throw ioFailure(error, 'DecryptionFailed', `cannot write ${partial}`, signal);
  } finally {
    clearInterval(progress);
  }
}
