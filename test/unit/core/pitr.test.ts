import { describe, expect, it } from 'vitest';
import {
  archiveCommand,
  formatConfChanges,
  judgeServerSettings,
  pgBackRestConf,
  stanzaPaths,
  type PgBackRestSettings,
} from '../../../src/core/pitr.js';

const base: PgBackRestSettings = {
  stanza: 'app',
  pgData: '/var/lib/postgresql/15/main',
  pgPort: 5432,
  pgSocketPath: '/var/run/postgresql',
  repo: { type: 'posix', path: '/srv/pgbackrest' },
  archiveTimeoutSeconds: 60,
  stateDir: '/var/lib/durable-backup/pgbackrest/app',
};

const settingsOf = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

describe('pgBackRestConf', () => {
  it('a repository on a path, unencrypted, with the stanza on the cluster', () => {
    const text = pgBackRestConf(base);
    expect(text.split('\n')[0]).toBe('[global]');
    expect(text).toContain(
      '\n[app]\npg1-path=/var/lib/postgresql/15/main\npg1-port=5432\npg1-socket-path=/var/run/postgresql\n',
    );
    expect(settingsOf(text)).toMatchObject({
      'repo1-type': 'posix',
      'repo1-path': '/srv/pgbackrest',
      'lock-path': '/var/lib/durable-backup/pgbackrest/app/lock',
      'log-path': '/var/lib/durable-backup/pgbackrest/app/log',
      'spool-path': '/var/lib/durable-backup/pgbackrest/app/spool',
      'archive-timeout': '120',
    });
    expect(text).not.toContain('cipher');
  });

  it('a repository in S3 over https, path style, with keys and the cipher', () => {
    const text = pgBackRestConf({
      ...base,
      cipherPass: 'a-long-cipher-passphrase',
      repo: {
        type: 's3',
        endpoint: 'https://127.0.0.1:8443',
        bucket: 'backups',
        region: 'us-east-1',
        prefix: 'pgbackrest/app',
        forcePathStyle: true,
        verifyTls: false,
        accessKeyId: 'AKID',
        secretAccessKey: 'SECRET',
      },
    });
    expect(settingsOf(text)).toMatchObject({
      'repo1-type': 's3',
      'repo1-path': '/pgbackrest/app',
      'repo1-s3-endpoint': '127.0.0.1',
      'repo1-storage-port': '8443',
      'repo1-s3-bucket': 'backups',
      'repo1-s3-region': 'us-east-1',
      'repo1-s3-uri-style': 'path',
      'repo1-storage-verify-tls': 'n',
      'repo1-s3-key': 'AKID',
      'repo1-s3-key-secret': 'SECRET',
      'repo1-cipher-type': 'aes-256-cbc',
      'repo1-cipher-pass': 'a-long-cipher-passphrase',
    });
  });

  it('host style, verified, and the instance role when there are no keys', () => {
    const settings = settingsOf(
      pgBackRestConf({
        ...base,
        repo: {
          type: 's3',
          endpoint: 'https://s3.eu-west-1.amazonaws.com',
          bucket: 'b',
          region: 'eu-west-1',
          prefix: 'p',
          forcePathStyle: false,
          verifyTls: true,
          caFile: '/etc/ssl/ca.pem',
        },
      }),
    );
    expect(settings).toMatchObject({
      'repo1-s3-uri-style': 'host',
      'repo1-s3-key-type': 'auto',
      'repo1-storage-ca-file': '/etc/ssl/ca.pem',
    });
    expect(settings['repo1-storage-verify-tls']).toBeUndefined();
    expect(settings['repo1-storage-port']).toBeUndefined();
  });

  it('refuses a value that would start a line of its own', () => {
    expect(() => pgBackRestConf({ ...base, cipherPass: 'one\nrepo1-path=/elsewhere' })).toThrow(/one line/);
    expect(() => pgBackRestConf({ ...base, pgData: '/data\n[other]' })).toThrow(/one line/);
  });
});

describe('judgeServerSettings', () => {
  const paths = stanzaPaths('/var/lib/durable-backup/pgbackrest', 'app');
  const wanted = { archiveCommand: archiveCommand(paths.configFile, 'app'), archiveTimeoutSeconds: 60 };

  it('the archive_command names our file and stanza', () => {
    expect(wanted.archiveCommand).toBe(
      'pgbackrest --config=/var/lib/durable-backup/pgbackrest/app.conf --stanza=app archive-push %p',
    );
  });

  it('asks nothing of a server that archives through pgBackRest often enough', () => {
    const ready = {
      wal_level: 'replica',
      archive_mode: 'on',
      archive_command: ` ${wanted.archiveCommand}  `,
      archive_timeout: 30,
    };
    expect(judgeServerSettings(ready, wanted)).toEqual([]);
    expect(judgeServerSettings({ ...ready, wal_level: 'logical', archive_mode: 'always' }, wanted)).toEqual(
      [],
    );
  });

  it('names every setting a fresh server lacks, and the restart it needs', () => {
    const fresh = { wal_level: 'minimal', archive_mode: 'off', archive_command: '', archive_timeout: 0 };
    const changes = judgeServerSettings(fresh, wanted);
    expect(changes.map((c) => [c.name, c.wanted, c.needs])).toEqual([
      ['wal_level', 'replica', 'restart'],
      ['archive_mode', 'on', 'restart'],
      ['archive_command', wanted.archiveCommand, 'reload'],
      ['archive_timeout', '60', 'reload'],
    ]);
    const text = formatConfChanges(changes);
    expect(text).toContain(`archive_command = '${wanted.archiveCommand}'`);
    expect(text).toContain("archive_mode = 'on'\t# now off");
    expect(text).toContain('archive_timeout = 60s\t# now 0');
    expect(text.split('\n').at(-1)).toMatch(/^then restart PostgreSQL/);
  });

  it('a timeout longer than ours or another archiver is a reload away', () => {
    const other = {
      wal_level: 'replica',
      archive_mode: 'on',
      archive_command: "cp %p '/mnt/it''s/%f'",
      archive_timeout: 300,
    };
    const changes = judgeServerSettings(other, wanted);
    expect(changes.map((c) => c.name)).toEqual(['archive_command', 'archive_timeout']);
    const text = formatConfChanges(changes);
    expect(text).toContain("# now cp %p '/mnt/it''s/%f'");
    expect(text.split('\n').at(-1)).toBe('then reload PostgreSQL (SELECT pg_reload_conf())');
  });
});
