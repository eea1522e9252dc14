import type * as openpgp from 'openpgp';
import { BackupError, configError } from '../core/errors.js';
import { messageOf, openpgpSealer, readPublicKeys, type Sealer } from '../crypto/seal.js';

/** The keys a rotation re-encrypts to, as the manifest records them and as the messages name them. */
export interface NewRecipients {
  sealer: Sealer;
  /** Primary key fingerprints, as manifest.encryption.recipients holds them. */
  fingerprints: string[];
  /** The key IDs a message encrypted to these keys names in its packets (their encryption subkeys). */
  encryptionKeyIDs: string[];
}

/**
 * Reads the new recipients from armored public keys (one text may hold several), refusing a text
 * that holds none, or a key that cannot encrypt, as a configuration error.
 */
export async function readNewRecipients(armored: string, source: string): Promise<NewRecipients> {
  const keys = await readPublicKeys(armored, source);
  const encryptionKeyIDs: string[] = [];
  for (const key of keys) encryptionKeyIDs.push(await encryptionKeyIDOf(key, source));
  const sealer = openpgpSealer(keys);
  return { sealer, fingerprints: sealer.fingerprints, encryptionKeyIDs };
}

async function encryptionKeyIDOf(key: openpgp.PublicKey, source: string): Promise<string> {
  try {
    return (await key.getEncryptionKey()).getKeyID().toHex().toUpperCase();
  } catch (error) {
    throw configError(
      `${source}: the key ${key.getFingerprint().toUpperCase()} cannot encrypt (${messageOf(error)})`,
    );
  }
}

/** Whether two lists of fingerprints or key IDs name the same keys, in any order. */
export function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  const norm = (list: readonly string[]) => [...new Set(list.map((k) => k.toUpperCase()))].sort().join(',');
  return norm(a) === norm(b);
}

/** A stored message is encrypted to other keys than the rotation's: it must not replace the old one. */
export function wrongRecipients(where: string, found: string[], expected: string[]): BackupError {
  return new BackupError(
    'EncryptionFailed',
    `${where}: encrypted to ${found.join(', ') || 'no key'}, expected exactly ${expected.join(', ')}`,
    { retryable: false },
  );
}
