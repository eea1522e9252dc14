import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Every temporary file of a run goes to a folder of its own: TMPDIR, which the forked test
 * processes and the programs they start inherit. Test keyrings and the gpg decrypter's homes live
 * there too, each with a gpg-agent: when the run ends, stop those agents (only those), then remove
 * the folder. Forked test processes end without the 'exit' event that would clean up after them.
 */
export default function setup() {
  const root = mkdtempSync(join(tmpdir(), 'durable-backup-test-'));
  // Readable by the postgres user, for the password cluster's data folder inside it.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  process.env.TEST_BACKUP_SIGNING_KEY_FILE = makeSigningKey(join(root, 'signing-key'));
  return async () => {
    await execa('pkill', ['-f', `gpg-agent --homedir ${root}/`], { reject: false });
    rmSync(root, { recursive: true, force: true });
  };
}

/**
 * The signing key every test worker signs its backups with (testEnv passes it as
 * BACKUP_SIGNING_KEY_FILE): made once per run by gpg itself, ed25519, sign-only, no passphrase.
 */
function makeSigningKey(home: string): string {
  mkdirSync(home, { mode: 0o700 });
  const gpg = (...args: string[]) =>
    execFileSync(
      'gpg',
      ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
  const uid = 'Backup Test Signer <signer@example.com>';
  gpg('--quick-gen-key', uid, 'ed25519', 'sign', 'never');
  const file = join(home, 'signing-key.asc');
  writeFileSync(file, gpg('--armor', '--export-secret-keys', uid), { mode: 0o600 });
  writeFileSync(join(home, 'signing-public.asc'), gpg('--armor', '--export', uid));
  return file;
}
