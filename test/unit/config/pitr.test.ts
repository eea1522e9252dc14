import { chmodSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig, secretsOf } from '../../../src/config/index.js';
import { BackupError } from '../../../src/core/errors.js';
import { tempDir } from '../../helpers/files.js';

const S3 = {
  S3_BUCKET: 'backups',
  S3_ENDPOINT: 'http://127.0.0.1:8333',
  S3_FORCE_PATH_STYLE: 'true',
  S3_ACCESS_KEY: 'access-key-id',
  S3_SECRET_KEY: 'secret-access-key',
};
const load = (env: Record<string, string>) =>
  loadConfig({ env: { DB_NAME: 'app', ...env }, warn: () => undefined });

function refusal(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).kind).toBe('Configuration');
    return (error as BackupError).message;
  }
  throw new Error('expected a configuration error');
}

describe('PITR', () => {
  it('is off by default, and its settings alone do not turn it on', () => {
    expect(load({}).pitr).toBeUndefined();
    expect(refusal({ PITR_REPO_PATH: '/srv/pgbackrest' })).toMatch(
      /^PITR: PITR_REPO_PATH is set but PITR is none/,
    );
  });

  it('keeps the repository on a path, with the defaults', () => {
    const pitr = load({ PITR: 'pgbackrest', PITR_REPO_PATH: '/srv/pgbackrest' }).pitr!;
    expect(pitr).toMatchObject({
      engine: 'pgbackrest',
      stanza: 'app',
      pgUser: 'postgres',
      configDir: '/var/lib/durable-backup/pgbackrest',
      repo: { type: 'posix', path: '/srv/pgbackrest' },
      archiveTimeoutSeconds: 60,
      rpoTargetSeconds: 300,
      schedules: { fullCron: '0 1 * * 0', diffCron: '0 1 * * 1-6' },
    });
    expect(pitr.cipherPass).toBeUndefined();
  });

  it('puts the repository in our bucket under its own prefix, over https only', () => {
    expect(refusal({ PITR: 'pgbackrest', ...S3 })).toMatch(
      /^PITR_S3_ENDPOINT: pgBackRest reaches S3 over https only/,
    );
    const pitr = load({
      PITR: 'pgbackrest',
      ...S3,
      PITR_S3_ENDPOINT: 'https://127.0.0.1:8443/',
      PITR_S3_VERIFY_TLS: 'false',
      PITR_STANZA: 'main',
    }).pitr!;
    expect(pitr.repo).toEqual({
      type: 's3',
      endpoint: 'https://127.0.0.1:8443',
      bucket: 'backups',
      region: 'us-east-1',
      prefix: 'pgbackrest/main',
      forcePathStyle: true,
      verifyTls: false,
      caFile: undefined,
      accessKeyId: 'access-key-id',
      secretAccessKey: 'secret-access-key',
    });
    expect(refusal({ PITR: 'pgbackrest' })).toMatch(/^PITR_REPO_PATH: PITR=pgbackrest needs a repository/);
    expect(refusal({ PITR: 'pgbackrest', PITR_REPO_PATH: '/r', PITR_REPO_S3_PREFIX: 'x' })).toMatch(
      /not both/,
    );
    expect(refusal({ PITR: 'pgbackrest', PITR_REPO_PATH: 'relative' })).toMatch(
      /^PITR_REPO_PATH: expected an absolute path/,
    );
  });

  it('reads the cipher passphrase from its _FILE, and counts it a secret', () => {
    const dir = tempDir('pitr-config');
    const file = `${dir}/cipher`;
    writeFileSync(file, 'a-long-cipher-passphrase-of-ours\n');
    chmodSync(file, 0o600);
    const config = load({ PITR: 'pgbackrest', PITR_REPO_PATH: '/r', PITR_CIPHER_PASS_FILE: file });
    expect(config.pitr!.cipherPass).toBe('a-long-cipher-passphrase-of-ours');
    expect(secretsOf(config)).toContain('a-long-cipher-passphrase-of-ours');
    expect(refusal({ PITR: 'pgbackrest', PITR_REPO_PATH: '/r', PITR_CIPHER_PASS: 'short' })).toMatch(
      /^PITR_CIPHER_PASS: must be at least 20 characters/,
    );
  });

  it('production: an encrypted repository, and a verified certificate', () => {
    const production = {
      BACKUP_ENV: 'production',
      GPG_RECIPIENT: 'ops@example.com',
      DB_SSLMODE: 'require',
      ...S3,
      S3_ENDPOINT: 'https://s3.example.com',
      PITR: 'pgbackrest',
    };
    expect(refusal(production)).toMatch(/^PITR_CIPHER_PASS: production WAL archives/);
    const withPass = { ...production, PITR_CIPHER_PASS: 'a-long-cipher-passphrase-of-ours' };
    expect(load(withPass).pitr!.repo).toMatchObject({ endpoint: 'https://s3.example.com', verifyTls: true });
    expect(refusal({ ...withPass, PITR_S3_VERIFY_TLS: 'false' })).toMatch(/^PITR_S3_VERIFY_TLS: production/);
  });
});
