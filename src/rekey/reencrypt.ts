import { createReadStream, createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { BackupError, configError, ioFailure } from '../core/errors.js';
import { sealedContent } from '../core/manifest.js';
import { chain } from '../stream/chain.js';
import { HashingStream } from '../stream/hashing.js';
import { discardPartial } from '../stream/partial-file.js';
import { sameKeys, wrongRecipients } from './recipients.js';
import { keep, type Copy, type NewFile, type RekeyWork } from './work.js';

// Key rotation (`backupctl rekey`) of one backup: the re-encryption of a stored copy to the new
// recipients, and the check that the new file is encrypted to them and no other key.

/** The local copy first (no download), then the bucket's unless it is archived; the next when one is damaged. */
export async function reencryptFromAny(copies: Copy[], path: string, work: RekeyWork): Promise<NewFile> {
  if (!work.opener) {
    throw configError(
      'GPG_PRIVATE_KEY_FILE: not set on this worker; re-encrypting needs the current private key',
    );
  }
  const sources = [
    ...copies.filter((c) => c.location === 'local'),
    ...copies.filter((c) => c.location === 'remote'),
  ];
  let failure: unknown;
  for (const source of sources) {
    const stored = await source.store.stat(source.manifest.file.key);
    if (stored?.size !== source.manifest.file.bytes) continue;
    if (stored.archived) continue;
    try {
      work.onProgress?.({ step: `re-encrypt the ${source.location} copy` });
      return await reencrypt(source, path, work);
    } catch (error) {
      if (work.signal?.aborted) throw error;
      failure = error;
    }
  }
  throw (
    failure ??
    new BackupError(
      'DownloadFailed',
      `${copies[0]!.manifest.file.key}: no complete, readable copy to re-encrypt`,
      {
        retryable: false,
        hint: 'run backupctl reread; an archived copy must be thawed first',
      },
    )
  );
}

/**
 * One pass, nothing in memory or on disk in the clear: read the stored file (hashed), decrypt it with
 * the current key, hash the plaintext, encrypt it to the new recipients, hash that, write it to a
 * .partial file. Kept only when the stored file and the plaintext match the manifest, after the
 * decrypter checked the message's integrity (its MDC) at the end.
 */
async function reencrypt(source: Copy, path: string, work: RekeyWork): Promise<NewFile> {
  const { manifest } = source;
  const partial = `${path}.partial`;
  const storedHash = new HashingStream();
  const archiveHash = new HashingStream();
  const newHash = new HashingStream();
  const writer = createWriteStream(partial, { mode: 0o600 });
  const where = source.store.describe(manifest.file.key);
  try {
    const stored = chain(await source.store.read(manifest.file.key), storedHash);
    const plaintext = chain(await work.opener!.open(stored), archiveHash);
    const sealed = await work.recipients.sealer.seal(plaintext);
    await pipeline(sealed, newHash, writer, { signal: work.signal });
    if (storedHash.bytes !== manifest.file.bytes || storedHash.digest() !== manifest.file.sha256) {
      throw new BackupError(
        'DownloadFailed',
        `${where}: does not match its manifest (size or SHA-256); not re-encrypted`,
        {
          retryable: false,
        },
      );
    }
    // The bytes the encryption wrapped: compressed ones stay as they are (compressionOf).
    const archive = { bytes: archiveHash.bytes, sha256: archiveHash.digest() };
    const expected = sealedContent(manifest);
    if (archive.bytes !== expected.bytes || archive.sha256 !== expected.sha256) {
      throw new BackupError(
        'DecryptionFailed',
        `${where}: decrypts to ${archive.bytes} bytes with sha256 ${archive.sha256}, the manifest says ${expected.bytes} with ${expected.sha256}`,
        { retryable: false },
      );
    }
    await rename(partial, path);
  } catch (error) {
    await discardPartial(writer, partial);
    throw ioFailure(error, 'EncryptionFailed', `cannot write ${partial}`, work.signal);
  }
  return keep(path, {
    bytes: newHash.bytes,
    sha256: newHash.digest(),
    recipients: work.recipients.fingerprints,
  });
}

/**
 * The key IDs the message's packets say it is encrypted to must be exactly the new recipients'. Only
 * the first packets are read: they come before the encrypted data.
 */
export async function checkEncryptedTo(path: string, expected: string[]): Promise<void> {
  const stream = createReadStream(path);
  let found: string[];
  try {
    const message = await openpgp.readMessage({
      binaryMessage: Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    });
    found = message.getEncryptionKeyIDs().map((id) => id.toHex().toUpperCase());
  } finally {
    stream.destroy();
  }
  if (!sameKeys(found, expected)) throw wrongRecipients(path, found, expected);
}
