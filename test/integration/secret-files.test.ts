import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';

// Issue #19: a secret in a file other users may read (chmod 644 on the env file holding
// DB_PASSWORD, on GPG_PRIVATE_KEY_FILE) is worth one warning line, with the fix; production refuses it.

function secretFile(name: string, text: string, mode: number): string {
  const path = join(tempDir('secret-files'), name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const env = () => ({ BACKUP_DIR: tempDir('secret-files-backups') });

describe('secret files readable by other users', () => {
  it('an env file holding DB_PASSWORD at 0644: one warning line naming the file and chmod 600; the command runs', async () => {
    const file = secretFile('backup.env', 'DB_NAME=app\nDB_PASSWORD=env-file-password-3b1\n', 0o644);
    const run = await backupctl(['--env-file', file, 'list'], env());
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toBe(
      `warning: --env-file: ${file} holds a secret and is readable by other users (mode 0644); chmod 600 ${file}`,
    );
    expect(run.stdout + run.stderr).not.toContain('env-file-password-3b1');
  });

  it('the same file at 0600: no warning', async () => {
    const file = secretFile('backup.env', 'DB_NAME=app\nDB_PASSWORD=env-file-password-3b1\n', 0o600);
    const run = await backupctl(['--env-file', file, 'list'], env());
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
  });

  it('in production: refused, exit 3, with chmod 600 as the hint, for the env file and a key file alike', async () => {
    const file = secretFile('backup.env', 'DB_NAME=app\nDB_PASSWORD=env-file-password-3b1\n', 0o644);
    const run = await backupctl(['--env-file', file, 'list'], { ...env(), BACKUP_ENV: 'production' });
    expectOneLineError(
      run,
      3,
      new RegExp(
        `^error: --env-file: ${file} holds a secret and is readable by other users \\(mode 0644\\); BACKUP_ENV=production refuses it$`,
      ),
    );
    expect(run.stderr.split('\n')).toContain(`hint: chmod 600 ${file}`);

    const key = secretFile('private.asc', '-----BEGIN PGP PRIVATE KEY BLOCK-----\n', 0o640);
    const worker = await backupctl(['worker'], {
      ...env(),
      DB_NAME: 'app',
      BACKUP_ENV: 'production',
      GPG_PRIVATE_KEY_FILE: key,
    });
    expectOneLineError(
      worker,
      3,
      new RegExp(`^error: GPG_PRIVATE_KEY_FILE: ${key} holds a secret .*\\(mode 0640\\)`),
    );
  });
});
