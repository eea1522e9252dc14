import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TestKeyring {
  home: string;
  publicKeyFile: string;
  fingerprint: string;
  /** gpg --decrypt, the way an operator would run it. */
  decrypt(inputPath: string, outputPath: string): Promise<void>;
}

/**
 * A throwaway GnuPG home with one key made by gpg itself (default algorithms, no passphrase): what we
 * encrypt must be what plain gpg decrypts. usage 'sign' makes a key that cannot encrypt.
 */
export async function createKeyring(usage: 'default' | 'sign' = 'default'): Promise<TestKeyring> {
  const home = mkdtempSync(join(tmpdir(), 'gnupg-'));
  const env = { GNUPGHOME: home };
  const uid = `Backup Test <backup-${usage}@example.com>`;
  const algorithm = usage === 'sign' ? 'ed25519' : 'default';
  await execa('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', uid, algorithm, usage, 'never'], {
    env,
  });
  const { stdout: armored } = await execa('gpg', ['--batch', '--armor', '--export', uid], { env });
  const publicKeyFile = join(home, 'public.asc');
  writeFileSync(publicKeyFile, armored);
  const { stdout: listing } = await execa('gpg', ['--batch', '--with-colons', '--fingerprint', uid], { env });
  const fingerprint = listing
    .split('\n')
    .find((l) => l.startsWith('fpr:'))!
    .split(':')[9]!;
  return {
    home,
    publicKeyFile,
    fingerprint,
    async decrypt(inputPath, outputPath) {
      await execa('gpg', ['--batch', '--yes', '--quiet', '--output', outputPath, '--decrypt', inputPath], {
        env,
      });
    },
  };
}
