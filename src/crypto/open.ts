import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { BackupError, configError } from '../core/errors.js';
import { armoredKeyBlocks, messageOf } from './seal.js';

/**
 * The mirror of a Sealer: turns what is stored back into the plaintext archive. "No encryption" is a
 * real opener (noDecryption), as it is a real sealer, so callers never branch on a missing key.
 */
export interface Opener {
  /** False for noDecryption: the stored file is the archive itself, and can be used as it is. */
  readonly decrypts: boolean;
  /**
   * Decrypts as the bytes arrive. The plaintext is unauthenticated until the stream has ended:
   * tampering shows as an error at its end, so write it to a temporary file and use it only then.
   */
  open(sealed: Readable): Promise<Readable>;
  /**
   * Where the decrypter is another program: it reads the file at `sealedPath` and writes the
   * plaintext into the file at `path` itself (overwriting it: the caller creates it, with the mode it
   * wants), so neither passes through this process. Resolves once the whole message is decrypted and
   * checked; until then the file holds unauthenticated plaintext, as with open().
   */
  openFile?(sealedPath: string, path: string, signal?: AbortSignal): Promise<void>;
  /**
   * open() of a file the decrypter reads itself (gpg reads 8 KiB at a time: from a pipe each read
   * would wait on this process), for a plaintext that must pass through here (a zstd stage).
   */
  openPath?(sealedPath: string): Readable;
}

/** The opener of an unencrypted backup: the stored bytes are the archive. */
export const noDecryption: Opener = {
  decrypts: false,
  open: async (sealed) => sealed,
};

/**
 * Reads every armored private key in a text, unlocking each with the passphrase when it is
 * protected. Messages name the source, never the passphrase or any key material.
 */
export async function readPrivateKeys(
  armored: string,
  passphrase: string | undefined,
  source: string,
  passphraseVariable = 'GPG_PASSPHRASE',
): Promise<openpgp.PrivateKey[]> {
  const blocks = armoredKeyBlocks(armored, 'PRIVATE');
  if (blocks.length === 0) {
    throw configError(
      `${source}: ${
        armoredKeyBlocks(armored, 'PUBLIC').length > 0
          ? 'holds a public key only; restore needs the private key'
          : 'no armored OpenPGP private key found'
      }`,
    );
  }
  const keys = (await Promise.all(blocks.map((block) => readPrivateBlock(block, source)))).flat();
  return Promise.all(keys.map((key) => unlocked(key, passphrase, source, passphraseVariable)));
}

async function readPrivateBlock(block: string, source: string): Promise<openpgp.PrivateKey[]> {
  try {
    return await openpgp.readPrivateKeys({ armoredKeys: block });
  } catch (error) {
    throw configError(`${source}: not a readable OpenPGP private key (${messageOf(error)})`);
  }
}

async function unlocked(
  key: openpgp.PrivateKey,
  passphrase: string | undefined,
  source: string,
  passphraseVariable: string,
): Promise<openpgp.PrivateKey> {
  if (key.isDecrypted()) return key;
  const fingerprint = key.getFingerprint().toUpperCase();
  if (passphrase === undefined) {
    throw configError(
      `${source}: the key ${fingerprint} is protected by a passphrase; set ${passphraseVariable} or ${passphraseVariable}_FILE`,
    );
  }
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase });
  } catch {
    throw configError(`${source}: ${passphraseVariable} does not unlock the key ${fingerprint}`);
  }
}

/** Decrypts binary OpenPGP messages (what openpgpSealer or `gpg --encrypt` wrote) with the given keys. */
export function openpgpOpener(keys: openpgp.PrivateKey[]): Opener {
  const ourKeyIDs = keyIDsOf(keys);
  return {
    decrypts: true,
    async open(sealed) {
      try {
        const message = await openpgp.readMessage({
          binaryMessage: Readable.toWeb(sealed) as ReadableStream<Uint8Array>,
        });
        checkRecipients(message, ourKeyIDs);
        const { data } = await openpgp.decrypt({
          message,
          decryptionKeys: keys,
          format: 'binary',
          // Without this, openpgp.js holds a whole SEIPD v1 message in memory to check its MDC before
          // releasing a byte. Streaming is safe because a failed check still errors the stream at its
          // end, and callers use the plaintext only after the end (see Opener.open).
          config: { allowUnauthenticatedStream: true },
        });
        return typedErrors(Readable.fromWeb(data as unknown as WebReadableStream<Uint8Array>));
      } catch (error) {
        sealed.destroy();
        throw decryptionFailure(error);
      }
    },
  };
}

/** The key IDs (primary and subkeys) of the keys, as messages name their recipients. */
export function keyIDsOf(keys: openpgp.PrivateKey[]): string[] {
  return keys.flatMap((key) => key.getKeyIDs().map((id) => id.toHex().toUpperCase()));
}

/** The key ID of an anonymous recipient: all zeros. */
const HIDDEN_RECIPIENT = '0000000000000000';

/** Refuses up front, and says why, a message none of our keys can open. */
function checkRecipients(message: openpgp.Message<unknown>, ourKeyIDs: string[]): void {
  const recipientIDs = message.getEncryptionKeyIDs().map((id) => id.toHex().toUpperCase());
  // A hidden recipient (gpg --throw-keyids) could be any key: let decryption try them all.
  if (recipientIDs.includes(HIDDEN_RECIPIENT)) return;
  if (recipientIDs.some((id) => ourKeyIDs.includes(id))) return;
  throw encryptedToOtherKeys(recipientIDs, ourKeyIDs);
}

export function encryptedToOtherKeys(recipientIDs: string[], ourKeyIDs: string[]): BackupError {
  return new BackupError(
    'DecryptionFailed',
    `encrypted to other keys: ${recipientIDs.join(', ') || 'none'}; this key is ${ourKeyIDs.join(', ')}`,
  );
}

/** The same bytes, but an error that arrives mid-stream (tampering, truncation) is a BackupError too. */
function typedErrors(plaintext: Readable): Readable {
  return Readable.from(
    (async function* () {
      try {
        yield* plaintext;
      } catch (error) {
        throw decryptionFailure(error);
      }
    })(),
    { objectMode: false },
  );
}

/** What a damaged backup means to the user, whichever decrypter found the damage. */
const MEANINGS = {
  integrity: 'integrity check failed: the backup was changed or damaged after it was encrypted',
  truncated: 'the backup ends early: it is truncated',
  notOpenPGP: 'not an OpenPGP message: the backup is damaged or was not encrypted',
  unknown: 'cannot decrypt the backup',
} as const;

export type Meaning = keyof typeof MEANINGS;

/** A failed decryption, in the user's terms first, then the decrypter's own words. */
export function decryptionFailed(meaning: Meaning, decrypter: string, reason: string, cause?: unknown) {
  return new BackupError('DecryptionFailed', `${MEANINGS[meaning]} (${decrypter}: ${reason})`, { cause });
}

/** What openpgp.js's messages for a damaged file mean. */
const OPENPGP_REASONS: Record<string, Meaning> = {
  'Modification detected.': 'integrity',
  'Unexpected end of packet': 'truncated',
  'Error during parsing. This message / key probably does not conform to a valid OpenPGP format.':
    'notOpenPGP',
};

/**
 * openpgp.js's failures as DecryptionFailed. File system errors pass through: the caller knows which
 * file failed, and whether trying again may help.
 */
function decryptionFailure(error: unknown): unknown {
  if (error instanceof BackupError || (error as { syscall?: unknown }).syscall) return error;
  const reason = messageOf(error);
  return decryptionFailed(OPENPGP_REASONS[reason] ?? 'unknown', 'openpgp.js', reason, error);
}
