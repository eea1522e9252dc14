import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { parseEnvFile } from '../../../src/config/env-file.js';
import { BackupError } from '../../../src/core/errors.js';

const minimal = { DB_NAME: 'app' };

function configError(env: Record<string, string>, envFile?: string): BackupError {
  try {
    loadConfig({ env, envFile });
  } catch (error) {
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).kind).toBe('Configuration');
    return error as BackupError;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has the guide defaults', () => {
    const config = loadConfig({ env: minimal });
    expect(config.database).toMatchObject({ host: 'localhost', port: 5432, user: 'postgres', name: 'app' });
    expect(config.backup).toMatchObject({
      dir: '/var/backups/postgres',
      prefix: 'app-backup',
      timeZone: 'UTC',
    });
    expect(config.retention).toEqual({ dailyDays: 7, weeklyWeeks: 4, monthlyMonths: 6, keepNewest: 3 });
    expect(config.schedules).toEqual({
      backupCron: '0 2 * * *',
      retentionCron: '0 3 * * 0',
      timeZone: 'UTC',
      catchupWindowMinutes: 60,
      backupJitterMinutes: 0,
      drillCron: '0 4 * * *',
      rereadCron: '0 5 1 * *',
    });
    expect(config.s3).toBeUndefined();
    expect(config.restore.decrypter).toBe('auto');
  });

  it('names the variable that is wrong', () => {
    expect(configError({}).message).toBe('DB_NAME: is required');
    expect(configError({ ...minimal, DB_PORT: 'abc' }).message).toBe('DB_PORT: expected a whole number');
    expect(configError({ ...minimal, DB_PORT: '70000' }).message).toBe('DB_PORT: must be at most 65535');
    expect(configError({ ...minimal, BACKUP_SCHEDULE: 'nightly' }).message).toMatch(
      /^BACKUP_SCHEDULE: expected a cron/,
    );
    expect(configError({ ...minimal, BACKUP_TIMEZONE: 'Mars/Base' }).message).toMatch(/^BACKUP_TIMEZONE: /);
    expect(configError({ ...minimal, S3_BUCKET: 'bucket', S3_ACCESS_KEY: 'k' }).message).toMatch(
      /^S3_SECRET_KEY: /,
    );
    expect(configError({ ...minimal, S3_ENDPOINT: 'ftp://x' }).message).toMatch(/^S3_ENDPOINT: /);
    expect(configError({ ...minimal, S3_STORAGE_CLASS_WEEKLY: 'COLD' }).message).toMatch(
      /^S3_STORAGE_CLASS_WEEKLY: /,
    );
    expect(configError({ ...minimal, RESTORE_DECRYPTER: 'gnupg' }).message).toBe(
      'RESTORE_DECRYPTER: expected auto, gpg or openpgp',
    );
  });

  it('reads secrets from *_FILE, and refuses both at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'pw'), 'from-file\n');
    expect(loadConfig({ env: { ...minimal, DB_PASSWORD_FILE: join(dir, 'pw') } }).database.password).toBe(
      'from-file',
    );
    expect(configError({ ...minimal, DB_PASSWORD: 'x', DB_PASSWORD_FILE: join(dir, 'pw') }).message).toMatch(
      /not both/,
    );
    expect(configError({ ...minimal, DB_PASSWORD_FILE: join(dir, 'missing') }).message).toMatch(
      /no such file/,
    );
  });

  it('refuses production without encryption or over plain HTTP (gate S9-PROD-003)', () => {
    const prod = { ...minimal, BACKUP_ENV: 'production' };
    expect(configError(prod).message).toMatch(/^GPG_PUBLIC_KEY_FILE: production backups must be encrypted/);
    const http = {
      ...prod,
      GPG_RECIPIENT: 'a@b',
      S3_BUCKET: 'bucket',
      S3_ENDPOINT: 'http://s3.local',
      DB_SSLMODE: 'require',
    };
    expect(configError(http).message).toMatch(/^S3_ENDPOINT: .*plain HTTP/);
    expect(loadConfig({ env: { ...http, S3_ENDPOINT: 'https://s3.local' } }).environment).toBe('production');
  });

  it('refuses production without TLS to PostgreSQL or with --force allowed', () => {
    const prod = { ...minimal, BACKUP_ENV: 'production', GPG_RECIPIENT: 'a@b' };
    expect(configError(prod).message).toMatch(/^DB_SSLMODE: production connections .* \(it is prefer\)$/);
    const tls = { ...prod, DB_SSLMODE: 'verify-full' };
    expect(loadConfig({ env: tls }).restore.allowForce).toBe(false);
    expect(configError({ ...tls, RESTORE_ALLOW_FORCE: 'true' }).message).toMatch(/^RESTORE_ALLOW_FORCE: /);
  });

  it('allows --force by default only in development without approvers, and DB_HOST:DB_PORT as target', () => {
    expect(loadConfig({ env: minimal }).restore.allowForce).toBe(true);
    expect(loadConfig({ env: { ...minimal, RESTORE_APPROVERS: 'alice' } }).restore.allowForce).toBe(false);
    const config = loadConfig({
      env: { ...minimal, DB_HOST: 'DB1', RESTORE_TARGET_HOSTS: 'db2:5433, [::1]' },
    });
    expect(config.restore.targetHosts).toEqual([
      { host: 'db1', port: 5432 },
      { host: 'db2', port: 5433 },
      { host: '::1' },
    ]);
    expect(configError({ ...minimal, RESTORE_TARGET_HOSTS: 'db2:99999' }).message).toMatch(
      /^RESTORE_TARGET_HOSTS: expected host or host:port/,
    );
  });

  it('reads an env file, the environment winning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'backup.env');
    writeFileSync(
      file,
      '# guide style\nDB_NAME=goimg\nexport DB_HOST="db.internal"\nDB_USER=\'goimg\' # comment\n',
    );
    const config = loadConfig({ env: { DB_HOST: 'override' }, envFile: file });
    expect(config.database).toMatchObject({ name: 'goimg', host: 'override', user: 'goimg' });
  });

  it('turns TLS on for an API key or a client certificate, and wants both halves of the pair', () => {
    expect(loadConfig({ env: { ...minimal, TEMPORAL_API_KEY: 'k3y-k3y' } }).temporal).toMatchObject({
      apiKey: 'k3y-k3y',
      tls: {},
    });
    expect(loadConfig({ env: minimal }).temporal.tls).toBeUndefined();
    expect(configError({ ...minimal, TEMPORAL_TLS_CERT_FILE: '/c.pem' }).message).toMatch(
      /^TEMPORAL_TLS_CERT_FILE: /,
    );
  });

  it('has an off switch for stores without storage classes', () => {
    expect(
      loadConfig({ env: { ...minimal, S3_BUCKET: 'bucket', S3_STORAGE_CLASSES: 'false' } }).s3
        ?.storageClasses,
    ).toBeUndefined();
  });
});

describe('env file parser', () => {
  it('names the line it cannot read', () => {
    expect(() => parseEnvFile('A=1\nthis is not an assignment\n', 'backup.env')).toThrow(
      'backup.env line 2: expected KEY=VALUE',
    );
    expect(() => parseEnvFile('A="open\n', 'backup.env')).toThrow('backup.env line 1: unterminated " quote');
  });

  it('keeps characters a password may hold', () => {
    expect(parseEnvFile(`P='a#b c$d'\nQ="x\\"y"\nR=plain#notcomment`, 'f')).toEqual({
      P: 'a#b c$d',
      Q: 'x"y',
      R: 'plain#notcomment',
    });
  });
});
