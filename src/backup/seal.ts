import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { BackupError } from '../core/errors.js';
import type { Sealer } from '../crypto/index.js';
import { HashingStream } from './hash.js';

export interface SealResult {
  archive: { bytes: number; sha256: string };
  file: { bytes: number; sha256: string };
}

/**
 * Streams the plaintext archive through the sealer into target (via a .partial file renamed into
 * place), hashing both sides on the way. The caller removes the plaintext once it has recorded this.
 */
export async function sealArchive(
  plaintextPath: string,
  targetPath: string,
  sealer: Sealer,
  options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
): Promise<SealResult> {
  const partial = `${targetPath}.partial`;
  const plainHash = new HashingStream();
  const sealedHash = new HashingStream();
  const progress = setInterval(() => options.onProgress?.(plainHash.bytes), 2_000);
  try {
    const plaintext = createReadStream(plaintextPath);
    plaintext.on('error', (error) => plainHash.destroy(error));
    const sealed = await sealer.seal(plaintext.pipe(plainHash));
    await pipeline(sealed, sealedHash, createWriteStream(partial, { mode: 0o600 }), {
      signal: options.signal,
    });
    await rename(partial, targetPath);
  } catch (error) {
    await rm(partial, { force: true });
    if (error instanceof BackupError || options.signal?.aborted) throw error;
    throw new BackupError('EncryptionFailed', `cannot write ${targetPath}: ${(error as Error).message}`, {
      retryable: true,
    });
  } finally {
    clearInterval(progress);
  }
  return {
    archive: { bytes: plainHash.bytes, sha256: plainHash.digest() },
    file: { bytes: sealedHash.bytes, sha256: sealedHash.digest() },
  };
}
