import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigs } from '../../../src/config/index.js';

function file(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cfgfile-')), name);
  writeFileSync(path, text);
  return path;
}

const yaml = `
defaults:
  BACKUP_DIR: /srv/backups
  S3_BUCKET: backups
databases:
  app:
    DB_HOST: db1.internal
  billing:
    DB_NAME: billing_prod
    DB_PORT: 5433
    BACKUP_SCHEDULE: "30 1 * * *"
    DAILY_RETENTION_DAYS: 14
`;

describe('config file for several databases', () => {
  it('gives one configuration per database, each with its overrides and the defaults', () => {
    const [app, billing] = loadConfigs({ env: { DB_USER: 'backup' }, configFile: file('backup.yaml', yaml) });
    expect(app!.database).toMatchObject({ name: 'app', host: 'db1.internal', port: 5432, user: 'backup' });
    expect(app!.backup.prefix).toBe('app-backup');
    expect(billing!.database).toMatchObject({ name: 'billing_prod', port: 5433 });
    expect(billing!.schedules.backupCron).toBe('30 1 * * *');
    expect(billing!.retention.dailyDays).toBe(14);
    expect(billing!.s3?.bucket).toBe('backups');
  });

  it('spreads the backups of several databases over 5 minutes unless told otherwise', () => {
    const jitter = (env: Record<string, string>, text = yaml) =>
      loadConfigs({ env, configFile: file('backup.yaml', text) }).map((c) => c.schedules.backupJitterMinutes);
    expect(jitter({})).toEqual([5, 5]);
    expect(jitter({ BACKUP_SCHEDULE_JITTER_MINUTES: '0' })).toEqual([0, 0]);
    expect(jitter({}, 'databases:\n  app:\n    DB_HOST: h\n')).toEqual([0]);
  });

  it('reads JSON too', () => {
    const json = JSON.stringify({ databases: { app: { DB_HOST: 'h' } } });
    expect(
      loadConfigs({ env: {}, configFile: file('backup.json', json) }).map((c) => c.database.host),
    ).toEqual(['h']);
  });

  it('names the file, the database and the variable that is wrong', () => {
    const bad =
      (text: string, name = 'backup.yaml') =>
      () =>
        loadConfigs({ env: {}, configFile: file(name, text) });
    expect(bad('databases:\n  app:\n    DB_PORT: abc\n')).toThrow(
      /backup\.yaml: databases\.app: DB_PORT: expected a whole number$/,
    );
    expect(bad('databases: {}\n')).toThrow(/databases: lists no database/);
    expect(bad('databses:\n  app: {}\n')).toThrow(/unknown section "databses"/);
    expect(bad('databases:\n  a: { DB_NAME: x }\n  b: { DB_NAME: x }\n')).toThrow(
      /DB_NAME "x" appears twice/,
    );
    expect(bad('databases:\n  app: { db_host: x }\n')).toThrow(/"db_host" is not a variable name/);
    expect(bad('{ "databases": ', 'backup.json')).toThrow(/not valid JSON/);
  });
});
