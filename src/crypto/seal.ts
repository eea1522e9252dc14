import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import * as openpgp from 'openpgp';
import { BackupError } from '../core/errors.js';

/**
 * A stage that turns the plaintext archive into what is stored. "No encryption" is a real sealer
 * that passes bytes through, so the pipeline never branches on a null key.
 */
export interface Sealer {
  readonly name: 'openpgp' | 'none';
  readonly encrypted: boolean;
  /** Fingerprints of every recipient key, recorded in the manifest. */
  readonly fingerprints: string[];
  seal(plaintext: Readable): Promise<Readable>;
}

export const noEncryption: Sealer = {
  name: 'none',
  encrypted: false,
  fingerprints: [],
  seal: async (plaintext) => plaintext,
};

/** Every armored key block of one kind in a text (one file may hold several). */
export function armoredKeyBlocks(text: string, kind: 'PUBLIC' | 'PRIVATE'): string[] {
  const block = new RegExp(
    `-----BEGIN PGP ${kind} KEY BLOCK-----[\\s\\S]*?-----END PGP ${kind} KEY BLOCK-----`,
    'g',
  );
  return text.match(block) ?? [];
}

/** Reads every armored public key in a text (one file may hold several blocks). */
export async function readPublicKeys(armored: string, source: string): Promise<openpgp.PublicKey[]> {
  const blocks = armoredKeyBlocks(armored, 'PUBLIC');
  if (blocks.length === 0) {
    const isPrivate = armored.includes('PRIVATE KEY BLOCK');
    throw new BackupError(
      'Configuration',
      `${source}: ${isPrivate ? 'holds a private key; give the public key only' : 'no armored OpenPGP public key found'}`,
    );
  }
  const keys: openpgp.PublicKey[] = [];
  for (const block of blocks) {
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys: block })).map((key) => key.toPublic()));
    } catch (error) {
      throw new BackupError(
        'Configuration',
        `${source}: not a readable OpenPGP public key (${messageOf(error)})`,
      );
    }
  }
  return keys;
}

/**
 * Encrypts to every key, in the OpenPGP format that `gpg --decrypt` reads (SEIPD v1, no AEAD, no
 * compression: a pg_dump archive is already compressed). Streams: memory stays flat whatever the size.
 */
export function openpgpSealer(keys: openpgp.PublicKey[]): Sealer {
  return {
    name: 'openpgp',
    encrypted: true,
    fingerprints: keys.map((key) => key.getFingerprint().toUpperCase()),
    async seal(plaintext) {
      try {
        const message = await openpgp.createMessage({ binary: webStreamOf(plaintext) });
        const encrypted = await openpgp.encrypt({
          message,
          encryptionKeys: keys,
          format: 'binary',
          config: {
            aeadProtect: false,
            preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed,
          },
        });
        return Readable.fromWeb(encrypted as unknown as WebReadableStream<Uint8Array>);
      } catch (error) {
        throw new BackupError(
          'EncryptionFailed',
          `cannot encrypt to the configured keys: ${messageOf(error)}`,
        );
      }
    },
  };
}

/**
 * The plaintext as the web stream openpgp reads. Like Readable.toWeb, it ends or fails with the
 * plaintext, and a cancel (the encrypted side failed) destroys the plaintext with its reason; unlike
 * it, it copies only the chunks that share their memory (see unshared()).
 */
function webStreamOf(plaintext: Readable): ReadableStream<Uint8Array> {
  const chunks = plaintext[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) controller.close();
      else controller.enqueue(unshared(next.value));
    },
    cancel(reason: unknown) {
      plaintext.destroy(reason as Error);
    },
  });
}

/**
 * The chunk as a plain Uint8Array (openpgp expects no Buffer) on memory no other chunk shares:
 * openpgp's reader may reach back into a chunk's ArrayBuffer. A chunk that owns all of its
 * ArrayBuffer (the pipeline's gathered chunks do) is not copied; a slice of Node's pool is.
 */
function unshared(chunk: Buffer): Uint8Array {
  const ownsItsMemory = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
  return ownsItsMemory ? new Uint8Array(chunk.buffer, 0, chunk.byteLength) : new Uint8Array(chunk);
}

/** openpgp.js's message, without the prefix naming the call that failed. */
export function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^Error ((en|de)crypting message|reading keys?|decrypting private key): /i, '');
}
