import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { loadConfig } from '../../src/config/index.js';

export interface TestKeyring {
  home: string;
  publicKeyFile: string;
  /** The secret key, as `gpg --export-secret-keys --armor` writes it (still protected by its passphrase). */
  privateKeyFile: string;
  fingerprint: string;
  /** gpg --encrypt to this key with gpg's default options, the way an operator would run it. */
  encrypt(inputPath: string, outputPath: string): Promise<void>;
  /** gpg --decrypt, the way an operator would run it. */
  decrypt(inputPath: string, outputPath: string): Promise<void>;
}

/**
 * A throwaway GnuPG home with one key made by gpg itself (default algorithms, no passphrase unless
 * one is given): what we encrypt must be what plain gpg decrypts. usage 'sign' makes a key that
 * cannot encrypt.
 */
export async function createKeyring(
  usage: 'default' | 'sign' = 'default',
  passphrase = '',
): Promise<TestKeyring> {
  const home = mkdtempSync(join(tmpdir(), 'gnupg-'));
  const env = { GNUPGHOME: home };
  // Loopback lets --passphrase reach the agent in batch mode, without a pinentry.
  const unattended = ['--batch', '--pinentry-mode', 'loopback', '--passphrase', passphrase];
  const uid = `Backup Test <backup-${usage}@example.com>`;
  const algorithm = usage === 'sign' ? 'ed25519' : 'default';
  await execa('gpg', [...unattended, '--quick-gen-key', uid, algorithm, usage, 'never'], { env });
  const publicKeyFile = join(home, 'public.asc');
  writeFileSync(publicKeyFile, (await execa('gpg', ['--batch', '--armor', '--export', uid], { env })).stdout);
  const privateKeyFile = join(home, 'private.asc');
  writeFileSync(
    privateKeyFile,
    (await execa('gpg', [...unattended, '--armor', '--export-secret-keys', uid], { env })).stdout,
    { mode: 0o600 }, // as a private key should be: workers warn about, and production refuses, any other
  );
  const { stdout: listing } = await execa('gpg', ['--batch', '--with-colons', '--fingerprint', uid], { env });
  const fingerprint = listing
    .split('\n')
    .find((l) => l.startsWith('fpr:'))!
    .split(':')[9]!;
  return {
    home,
    publicKeyFile,
    privateKeyFile,
    fingerprint,
    async encrypt(inputPath, outputPath) {
      const recipient = ['--recipient', fingerprint];
      await execa('gpg', ['--batch', '--yes', ...recipient, '--output', outputPath, '--encrypt', inputPath], {
        env,
      });
    },
    async decrypt(inputPath, outputPath) {
      await execa(
        'gpg',
        [...unattended, '--yes', '--quiet', '--output', outputPath, '--decrypt', inputPath],
        { env },
      );
    },
  };
}

/** The two decrypters a restore can use (RESTORE_DECRYPTER): each must keep the same contract. */
export const DECRYPTERS = ['gpg', 'openpgp'] as const;
export type Decrypter = (typeof DECRYPTERS)[number];

/** A restore worker's configuration: privateKeyFile (GPG_PRIVATE_KEY_FILE) read by decrypter. */
export function restoreConfig(privateKeyFile: string, decrypter: Decrypter, passphrase?: string) {
  const env = {
    DB_NAME: 'x',
    GPG_PRIVATE_KEY_FILE: privateKeyFile,
    GPG_PASSPHRASE: passphrase,
    RESTORE_DECRYPTER: decrypter,
  };
  return loadConfig({ env });
}
