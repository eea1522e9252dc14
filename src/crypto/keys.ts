import { execa } from 'execa';
import type { Config } from '../config/index.js';
import { readTextFile } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import { isEncrypted, type Manifest } from '../core/manifest.js';
import { noEncryption, openpgpSealer, readPublicKeys, type Sealer } from './seal.js';
import { gpgAvailable, gpgOpener } from './gpg-open.js';
import { noDecryption, openpgpOpener, readPrivateKeys, type Opener } from './open.js';
import { toolEnv } from '../process/env.js';

/**
 * The sealer the configuration asks for: GPG_PUBLIC_KEY_FILE, or else the key of GPG_RECIPIENT
 * exported from the local GnuPG keyring (the guide's setup), or else no encryption.
 */
export async function sealerFor(config: Config): Promise<Sealer> {
  const { publicKeyFile, recipient } = config.encryption;
  if (publicKeyFile)
    return openpgpSealer(
      await readPublicKeys(readTextFile(publicKeyFile, 'GPG_PUBLIC_KEY_FILE'), 'GPG_PUBLIC_KEY_FILE'),
    );
  if (recipient)
    return openpgpSealer(await readPublicKeys(await exportFromKeyring(recipient), 'GPG_RECIPIENT'));
  return noEncryption;
}

/**
 * The opener for encrypted backups: GPG_PRIVATE_KEY_FILE unlocked with GPG_PASSPHRASE, decrypted by
 * the decrypter RESTORE_DECRYPTER names; none without a key.
 */
export async function openerFor(config: Config): Promise<Opener | undefined> {
  const { privateKeyFile, passphrase, decrypter } = config.restore;
  if (!privateKeyFile) return undefined;
  const armored = readTextFile(privateKeyFile, 'GPG_PRIVATE_KEY_FILE');
  const keys = await readPrivateKeys(armored, passphrase, 'GPG_PRIVATE_KEY_FILE');
  const useGpg = decrypter === 'gpg' || (decrypter === 'auto' && (await gpgAvailable()));
  return useGpg ? gpgOpener(keys) : openpgpOpener(keys);
}

/** The restore key of one database as an opener: read on first use, then shared. */
export type PrivateKey = () => Promise<Opener | undefined>;

/**
 * The opener a backup needs, from its manifest's encryption method: noDecryption for an unencrypted
 * one, on any worker; else the restore key, undefined when this worker holds none.
 */
export async function openerForBackup(
  manifest: Pick<Manifest, 'encryption'>,
  privateKey: PrivateKey,
): Promise<Opener | undefined> {
  return isEncrypted(manifest) ? privateKey() : noDecryption;
}

/**
 * Reads GPG_PRIVATE_KEY_FILE once for every step of one database that decrypts (restore, drill,
 * key rotation): one opener, one GnuPG home and agent. A failure is kept, and each use reports it.
 */
export function sharedPrivateKey(config: Config): PrivateKey {
  let opener: Promise<Opener | undefined> | undefined;
  return () => (opener ??= openerFor(config));
}

/** The armored public key of a recipient (a key ID, fingerprint or email) in the local GnuPG keyring. */
export async function exportFromKeyring(recipient: string, source = 'GPG_RECIPIENT'): Promise<string> {
  const result = await execa('gpg', ['--batch', '--armor', '--export', '--', recipient], {
    ...toolEnv({ GNUPGHOME: process.env.GNUPGHOME }),
    reject: false,
  });
  if (result.failed && (result as { code?: string }).code === 'ENOENT') {
    throw new BackupError('MissingDependency', `gpg is not installed; it is needed to export ${source}`);
  }
  if (result.exitCode !== 0 || !result.stdout.includes('BEGIN PGP PUBLIC KEY BLOCK')) {
    throw new BackupError('Configuration', `${source}: no public key for ${recipient} in the GnuPG keyring`, {
      hint: 'import it with gpg --import, or give the key as a file (GPG_PUBLIC_KEY_FILE, --recipients-file)',
    });
  }
  return result.stdout;
}
