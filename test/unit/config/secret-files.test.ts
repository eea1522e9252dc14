import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, loadConfigs } from '../../../src/config/index.js';
import { tempDir } from '../../helpers/files.js';

function fileWith(text: string, mode: number): string {
  const path = join(tempDir('secret-files'), 'file');
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe('secret files readable by other users', () => {
  const base = { DB_NAME: 'app' };

  it('warns once per file, naming the variable and the fix, for every kind of secret file', () => {
    const warnings: string[] = [];
    const envFile = fileWith('DB_PASSWORD=hunter2\n', 0o644);
    const passwordFile = fileWith('s3-secret\n', 0o640);
    const privateKey = fileWith('-----BEGIN PGP PRIVATE KEY BLOCK-----\n', 0o604);
    loadConfig({
      envFile,
      env: {
        ...base,
        S3_BUCKET: 'backups',
        S3_ACCESS_KEY: 'k',
        S3_SECRET_KEY_FILE: passwordFile,
        GPG_PRIVATE_KEY_FILE: privateKey,
      },
      warn: (message) => warnings.push(message),
    });
    expect(warnings).toEqual([
      `--env-file: ${envFile} holds a secret and is readable by other users (mode 0644); chmod 600 ${envFile}`,
      `S3_SECRET_KEY_FILE: ${passwordFile} holds a secret and is readable by other users (mode 0640); chmod 600 ${passwordFile}`,
      `GPG_PRIVATE_KEY_FILE: ${privateKey} holds a secret and is readable by other users (mode 0604); chmod 600 ${privateKey}`,
    ]);
  });

  it('says nothing of files at 0600 or 0400, nor of an env file without a secret', () => {
    const warnings: string[] = [];
    loadConfig({
      envFile: fileWith('DB_HOST=db1\n', 0o644),
      env: {
        ...base,
        DB_PASSWORD_FILE: fileWith('pw', 0o600),
        BACKUP_SIGNING_KEY_FILE: fileWith('k', 0o400),
      },
      warn: (message) => warnings.push(message),
    });
    expect(warnings).toEqual([]);
  });

  it('refuses them in production, with the fix as the hint', () => {
    const envFile = fileWith('DB_PASSWORD=hunter2\n', 0o644);
    expect(() => loadConfig({ envFile, env: { ...base, BACKUP_ENV: 'production' } })).toThrow(
      expect.objectContaining({
        kind: 'Configuration',
        message: `--env-file: ${envFile} holds a secret and is readable by other users (mode 0644); BACKUP_ENV=production refuses it`,
        hint: `chmod 600 ${envFile}`,
      }),
    );
  });

  it('warns once for several databases sharing the file', () => {
    const warnings: string[] = [];
    const config = fileWith('databases:\n  a: {}\n  b: {}\n', 0o644);
    const passwordFile = fileWith('pw', 0o644);
    loadConfigs({
      configFile: config,
      env: { DB_PASSWORD_FILE: passwordFile },
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toHaveLength(1);
  });
});
