import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  conninfoDatabase,
  mayApprove,
  newestBefore,
  pgRestoreArgs,
  relativeS3Key,
  tablesInScope,
  wholeTablesList,
} from '../../src/core/restore.js';
import type { Manifest } from '../../src/core/manifest.js';

const manifest = {
  tables: [
    { schema: 'public', table: 'users', rows: 10 },
    { schema: 'public', table: 'images', rows: 5 },
    { schema: 'billing', table: 'users', rows: 3 },
    { schema: 'odd schema', table: 'Mixed Case', rows: 2 },
  ],
};

describe('relativeS3Key', () => {
  it('takes keys with or without S3_PREFIX, and only backup data', () => {
    expect(relativeS3Key('postgres-backups/app-backup-20240315-020000.dump.gpg', 'postgres-backups/')).toBe(
      'app-backup-20240315-020000.dump.gpg',
    );
    expect(relativeS3Key('app-backup-20240315-020000.dump', 'postgres-backups/')).toBe(
      'app-backup-20240315-020000.dump',
    );
    expect(relativeS3Key('upgrades/app-backup-v2-20240315-020000.dump.gpg', 'postgres-backups/')).toBe(
      'upgrades/app-backup-v2-20240315-020000.dump.gpg',
    );
  });

  it('refuses keys that escape the prefix or are not backups', () => {
    expect(relativeS3Key('../other/app-backup-20240315-020000.dump', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('/abs/app-backup-20240315-020000.dump', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('postgres-backups/app.manifest.json', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('notes.txt', '')).toBeUndefined();
  });
});

describe('newestBefore', () => {
  const entries = ['2024-03-15T02:00:00Z', '2024-03-14T02:00:00Z', '2024-03-13T02:00:00Z'].map(
    (createdAt) => ({
      manifest: { createdAt } as Manifest,
    }),
  );

  it('picks the newest, or the newest taken strictly before a time', () => {
    expect(newestBefore(entries)?.manifest.createdAt).toBe('2024-03-15T02:00:00Z');
    expect(newestBefore(entries, '2024-03-15T02:00:00Z')?.manifest.createdAt).toBe('2024-03-14T02:00:00Z');
    expect(newestBefore(entries, '2024-03-01')).toBeUndefined();
  });
});

describe('tablesInScope', () => {
  const names = (selection: Parameters<typeof tablesInScope>[1]) =>
    tablesInScope(manifest, selection).map((t) => `${t.schema}.${t.table}`);

  it('is every table for a full restore, with the rows the backup recorded', () => {
    expect(tablesInScope(manifest, {})).toHaveLength(4);
    expect(tablesInScope(manifest, {})[0]).toEqual({ schema: 'public', table: 'users', rowsInBackup: 10 });
  });

  it('follows pg_restore: --table in any schema unless --schema narrows it', () => {
    expect(names({ tables: ['users'] })).toEqual(['public.users', 'billing.users']);
    expect(names({ tables: ['users'], schemas: ['billing'] })).toEqual(['billing.users']);
    expect(names({ schemas: ['public'] })).toEqual(['public.users', 'public.images']);
  });

  it('keeps the table data a --use-list file keeps, names with spaces included', () => {
    const list = [
      ';',
      '; Archive created at 2024-03-15 02:00:00 UTC',
      '3350; 0 16386 TABLE DATA public users postgres',
      ';3351; 0 16390 TABLE DATA public images postgres',
      '3352; 0 16400 TABLE DATA odd schema Mixed Case postgres',
    ].join('\n');
    expect(names({ useList: list })).toEqual(['public.users', 'odd schema.Mixed Case']);
  });
});

describe('pgRestoreArgs', () => {
  it('cleans before restoring, stops on the first error, and quotes the database as conninfo', () => {
    const args = pgRestoreArgs({
      archivePath: '/w/a.dump',
      database: "it's db",
      jobs: 4,
      schemas: ['billing'],
    });
    expect(args).toEqual([
      "--dbname=dbname='it\\'s db'",
      '--jobs=4',
      '--clean',
      '--if-exists',
      '--exit-on-error',
      '--schema=billing',
      '/w/a.dump',
    ]);
  });

  it('escapes backslashes in conninfo', () => {
    expect(conninfoDatabase('a\\b')).toBe("dbname='a\\\\b'");
  });
});

describe('wholeTablesList', () => {
  // pg_restore --list and --schema-only of a database with a sequence, a comment, a foreign key, an
  // index with a quoted name and a table in a schema with a space (test/fixtures).
  const toc = readFileSync(new URL('../fixtures/tables.toc', import.meta.url), 'utf8');
  const schemaSql = readFileSync(new URL('../fixtures/tables-schema.sql', import.meta.url), 'utf8');
  const kept = (tables: { schema: string; table: string }[]) =>
    wholeTablesList(toc, schemaSql, tables)
      .trim()
      .split('\n')
      .map((line) => line.replace(/^\d+; \d+ \d+ /, '').replace(/ postgres$/, ''));

  it('brings a table back with its data, constraints, indexes, default, owned sequence and comment', () => {
    expect(kept([{ schema: 'billing', table: 'invoices' }])).toEqual([
      'TABLE billing invoices',
      'COMMENT billing TABLE invoices',
      'SEQUENCE billing invoices_id_seq',
      'SEQUENCE OWNED BY billing invoices_id_seq',
      'DEFAULT billing invoices id',
      'TABLE DATA billing invoices',
      'SEQUENCE SET billing invoices_id_seq',
      'CONSTRAINT billing invoices invoices_pkey',
      'INDEX billing Inv Amount',
    ]);
  });

  it('matches names with spaces whole, and leaves other tables and their foreign keys out', () => {
    expect(kept([{ schema: 'odd schema', table: 'Mixed Case' }])).toEqual([
      'TABLE odd schema Mixed Case',
      'TABLE DATA odd schema Mixed Case',
      'CONSTRAINT odd schema Mixed Case Mixed Case_pkey',
      'INDEX odd schema mixed_v',
    ]);
    expect(kept([{ schema: 'public', table: 'users' }])).not.toContain(
      'FK CONSTRAINT public images images_user_id_fkey',
    );
  });
});

describe('mayApprove', () => {
  it('lets anyone approve without a list, and only the listed with one', () => {
    expect(mayApprove([], 'anyone')).toBe(true);
    expect(mayApprove(['alice'], 'alice')).toBe(true);
    expect(mayApprove(['alice'], 'mallory')).toBe(false);
  });
});
