import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { execa, type Result } from 'execa';
import * as openpgp from 'openpgp';
import { BackupError, configError } from '../core/errors.js';
import { messageOf } from './seal.js';
import { decryptionFailed, encryptedToOtherKeys, keyIDsOf, type Meaning, type Opener } from './open.js';
import { gpgEnv, privateHome } from './gpg-home.js';
import { toolEnv } from '../process/env.js';
import { outputUntilExit } from '../stream/child-output.js';

/** Whether a gpg binary runs here: RESTORE_DECRYPTER=auto prefers it, as it decrypts about 3x faster. */
export async function gpgAvailable(): Promise<boolean> {
  const result = await execa('gpg', ['--version'], { ...toolEnv(), reject: false });
  return !result.failed;
}

/**
 * Decrypts with the gpg binary, from a GnuPG home of its own that holds only the restore key. keys
 * are that key as readPrivateKeys read and unlocked it, so the key and passphrase checks and their
 * messages are the same as openpgpOpener's. A test decryption then proves gpg can use the key here.
 *
 * The copy gpg gets is protected by a random passphrase that lives only in this process, and the
 * home's agent caches no passphrase: after a kill -9, what stays in the temporary folder decrypts
 * nothing, even for someone who knows GPG_PASSPHRASE, and the next worker removes it.
 */
export async function gpgOpener(keys: openpgp.PrivateKey[]): Promise<Opener> {
  const home = privateHome();
  const passphrase = randomBytes(32).toString('base64');
  const sealedKeys = await Promise.all(
    keys.map((privateKey) => openpgp.encryptKey({ privateKey, passphrase })),
  );
  await importKeys(home, sealedKeys.map((key) => key.armor()).join('\n'));
  const ourKeyIDs = keyIDsOf(keys);
  const opener: Opener = {
    decrypts: true,
    open: async (sealed) => decryptWithGpg(sealed, home, passphrase, ourKeyIDs),
    openPath: (sealedPath) => decryptWithGpg({ path: sealedPath }, home, passphrase, ourKeyIDs),
    openFile: (sealedPath, path, signal) =>
      decryptWithGpgToFile(sealedPath, path, { home, passphrase, ourKeyIDs, signal }),
  };
  await checkDecrypts(opener, keys);
  return opener;
}

/** Protected keys import without their passphrase: gpg-agent keeps them protected. */
async function importKeys(home: string, armored: string): Promise<void> {
  const result = await execa('gpg', ['--batch', '--import'], {
    ...gpgEnv(home),
    input: armored,
    reject: false,
  });
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new BackupError('MissingDependency', 'gpg is not installed; RESTORE_DECRYPTER=gpg needs it', {
      hint: 'install gnupg, or set RESTORE_DECRYPTER=openpgp',
    });
  }
  if (result.failed) {
    throw configError(`GPG_PRIVATE_KEY_FILE: gpg cannot import the key (${gpgMessages(result)})`);
  }
}

const PROBE = new TextEncoder().encode('durable-backup: can gpg decrypt with this key?');

async function checkDecrypts(opener: Opener, keys: openpgp.PrivateKey[]): Promise<void> {
  try {
    const sealed = await openpgp.encrypt({
      message: await openpgp.createMessage({ binary: PROBE }),
      encryptionKeys: keys.map((key) => key.toPublic()),
      format: 'binary',
    });
    await (await opener.open(Readable.from([sealed]))).toArray();
  } catch (error) {
    throw configError(`GPG_PRIVATE_KEY_FILE: gpg cannot decrypt with the key (${messageOf(error)})`);
  }
}

/**
 * `gpg --decrypt` of a stream on stdin to stdout, or of a file to the file `output.path` (which gpg
 * opens with O_TRUNC: an existing file keeps its mode). The passphrase goes through a pipe of its
 * own (fd 3), never the command line or the environment, where `ps` and /proc would show it.
 */
function spawnGpgDecrypt(
  sealed: Readable | { path: string },
  home: string,
  passphrase: string | undefined,
  output?: { path: string; signal?: AbortSignal },
) {
  // An unprotected key needs no passphrase; gpg reads the empty one and ignores it.
  const unattended = ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase-fd', '3'];
  // Status lines on stderr: the recipients, for "encrypted to other keys", and whether it all went well.
  const toFile = output ? ['--yes', '--output', output.path] : [];
  // gpg reads 8 KiB at a time: from a file it needs nobody; from a pipe, each read waits on us.
  const input = 'path' in sealed ? ['--', resolve(sealed.path)] : [];
  return execa('gpg', [...unattended, '--quiet', '--status-fd', '2', ...toFile, '--decrypt', ...input], {
    ...gpgEnv(home),
    // In an array, execa pipes the stream itself: spawn() takes only streams with an open fd.
    stdio: [
      'path' in sealed ? 'ignore' : [sealed, 'pipe'],
      output ? 'ignore' : 'pipe',
      'pipe',
      new TextEncoder().encode(passphrase ?? ''),
    ],
    buffer: { stdout: false },
    cancelSignal: output?.signal,
    reject: false,
  });
}

/**
 * Throws unless gpg decrypted a whole message. gpg reports a failed check only by its exit code,
 * after the last byte; and gpg 2.2 exits 0, having written nothing, for a file cut inside its first
 * packet: only DECRYPTION_OKAY (a whole message, its MDC checked) says the plaintext is complete.
 */
function checkGpgResult(result: Result, ourKeyIDs: string[]): void {
  if (result.failed || !String(result.stderr).includes('[GNUPG:] DECRYPTION_OKAY'))
    throw gpgFailure(result, ourKeyIDs);
}

/**
 * The plaintext as a stream back to us, from a stream or a file gpg reads itself: it ends only once
 * gpg exited cleanly.
 */
function decryptWithGpg(
  sealed: Readable | { path: string },
  home: string,
  passphrase: string | undefined,
  ourKeyIDs: string[],
): Readable {
  const gpg = spawnGpgDecrypt(sealed, home, passphrase);
  return outputUntilExit(gpg, (result) => checkGpgResult(result, ourKeyIDs));
}

/**
 * gpg reads the sealed file and writes the plaintext into the file itself: neither passes through
 * this process, which would otherwise read, copy and write every byte once more on its one thread.
 */
async function decryptWithGpgToFile(
  sealedPath: string,
  path: string,
  {
    home,
    passphrase,
    ourKeyIDs,
    signal,
  }: { home: string; passphrase?: string; ourKeyIDs: string[]; signal?: AbortSignal },
): Promise<void> {
  const result = await spawnGpgDecrypt({ path: sealedPath }, home, passphrase, { path, signal });
  signal?.throwIfAborted();
  // A full disk is the file's problem, not the backup's: the caller names the file, and retries.
  if (result.failed && String(result.stderr).includes('No space left on device'))
    throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
  checkGpgResult(result, ourKeyIDs);
}

/**
 * What gpg's messages and status lines for a damaged or foreign file mean (Debian's gpg 2.2,
 * LC_ALL=C), first match first: a truncated file also fails its MDC (BADMDC, "WARNING: encrypted
 * message has been manipulated!"), after a read error. A flipped byte in a compressed message (gpg's
 * default) breaks the inflate before the MDC is reached. NODATA: no packet, or an invalid one.
 */
const GPG_REASONS: [string, Meaning][] = [
  ['problem reading source', 'truncated'],
  [': read error', 'truncated'],
  ['[GNUPG:] BADMDC', 'integrity'],
  ['zlib inflate problem', 'integrity'],
  ['[GNUPG:] NODATA', 'notOpenPGP'],
];

function gpgFailure(result: Result, ourKeyIDs: string[]): unknown {
  // The sealed stream failed (a read error): that is the problem, not what gpg made of the input
  // cut short. The caller reports it as such.
  const cause = result.cause as { syscall?: unknown } | undefined;
  if (cause instanceof BackupError || cause?.syscall) return cause;
  const stderr = String(result.stderr);
  if (stderr.includes('decryption failed: No secret key'))
    return encryptedToOtherKeys(recipientsOf(stderr), ourKeyIDs);
  const meaning = GPG_REASONS.find(([text]) => stderr.includes(text))?.[1] ?? 'unknown';
  return decryptionFailed(meaning, 'gpg', gpgMessages(result));
}

/** The key IDs of the ENC_TO status lines. */
function recipientsOf(stderr: string): string[] {
  return [...stderr.matchAll(/^\[GNUPG:\] ENC_TO ([0-9A-F]{16}) /gm)].map((match) => match[1]!);
}

/** gpg's own messages, what a person would read on a terminal; the status lines when there are none. */
function gpgMessages(result: Result): string {
  const lines = String(result.stderr).split('\n');
  const messages = lines.filter((line) => line.startsWith('gpg: ')).map((line) => line.slice('gpg: '.length));
  const status = lines.filter((line) => line.startsWith('[GNUPG:] '));
  return (messages.length > 0 ? messages : status).join('; ') || `exit code ${result.exitCode}`;
}
