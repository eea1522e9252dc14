// GnuPG for the benchmark: a throw-away key pair, and decryption of a backup to a plaintext archive.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanups } from './cleanup.mjs';

/** OpenPGP public-key algorithm ids, as gpg --with-colons prints them. */
const ALGORITHMS = { 1: 'rsa', 17: 'dsa', 19: 'ecdsa', 22: 'ed25519' };

export async function makeGpgKey(folder) {
  const home = join(folder, 'gnupg');
  await mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  cleanups.push(['stop gpg-agent', () => execa('gpgconf', ['--kill', 'all'], { env, reject: false })]);
  await execa(
    'gpg',
    [
      '--batch',
      '--quiet',
      '--passphrase',
      '',
      '--quick-gen-key',
      'Bench <bench@localhost>',
      'default',
      'default',
      'never',
    ],
    { env },
  );
  const { stdout: armored } = await execa('gpg', ['--batch', '--armor', '--export', 'bench@localhost'], {
    env,
  });
  const publicKeyFile = join(folder, 'bench-public.asc');
  await writeFile(publicKeyFile, armored);
  const { stdout: secret } = await execa(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--armor',
      '--export-secret-keys',
      'bench@localhost',
    ],
    { env },
  );
  const privateKeyFile = join(folder, 'bench-private.asc');
  await writeFile(privateKeyFile, secret, { mode: 0o600 });
  const { stdout: listing } = await execa(
    'gpg',
    ['--batch', '--with-colons', '--list-keys', 'bench@localhost'],
    {
      env,
    },
  );
  const fingerprint = /^fpr:+([0-9A-F]+):/m.exec(listing)?.[1];
  const algorithm = /^pub:[^:]*:(\d+):(\d+):/m.exec(listing);
  if (!fingerprint) throw new Error('cannot read the fingerprint of the generated GnuPG key');
  return {
    home,
    publicKeyFile,
    privateKeyFile,
    fingerprint,
    algorithm: algorithm ? `${ALGORITHMS[algorithm[2]] ?? `algorithm ${algorithm[2]}/`}${algorithm[1]}` : '?',
  };
}

/**
 * A signing-only key (ed25519, no encryption subkey, as the worker requires) in the same keyring:
 * the worker signs each manifest with it and, by default, trusts it when it reads a backup.
 */
export async function makeSigningKey(key, folder) {
  const env = { GNUPGHOME: key.home };
  const uid = 'Bench signer <bench-signer@localhost>';
  await execa(
    'gpg',
    ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'],
    {
      env,
    },
  );
  const { stdout: secret } = await execa(
    'gpg',
    ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', '--armor', '--export-secret-keys', uid],
    { env },
  );
  const file = join(folder, 'bench-signing.asc');
  await writeFile(file, secret, { mode: 0o600 });
  return file;
}

/**
 * gpg --decrypt of our backup's local copy: the plaintext archive the bare restore reads. A
 * zstd-compressed backup (`.zst.gpg`) goes through `zstd -d` on the way, in one pipe.
 */
export async function decryptedArchive(key, sealedPath, folder, zstd) {
  const archive = join(folder, 'plain.dump');
  cleanups.push([`remove ${archive}`, () => rm(archive, { force: true })]);
  const decrypt = 'gpg --batch --quiet --decrypt "$1"';
  const script = zstd ? `${decrypt} | zstd -d -q -o "$2"` : `${decrypt} > "$2"`;
  await execa('bash', ['-o', 'pipefail', '-c', script, 'bash', sealedPath, archive], {
    env: { GNUPGHOME: key.home },
    stdin: 'ignore',
  });
  return archive;
}
