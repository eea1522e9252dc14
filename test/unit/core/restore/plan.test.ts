import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BackupError } from '../../../../src/core/errors.js';
import type { Manifest } from '../../../../src/core/manifest.js';
import {
  foreignKeysRefusal,
  restorePlan,
  tablesInScope,
  tablesToReplace,
  type PlanFacts,
} from '../../../../src/core/restore/plan.js';

const manifest = {
  tables: [
    { schema: 'public', table: 'users', rows: 10 },
    { schema: 'public', table: 'images', rows: 5 },
    { schema: 'billing', table: 'users', rows: 3 },
    { schema: 'odd schema', table: 'Mixed Case', rows: 2 },
  ],
};

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

  it('chooses from a real pg_restore --list the tables whose data its user kept', () => {
    const toc = readFileSync(new URL('../../../fixtures/tables.toc', import.meta.url), 'utf8');
    const names = ['billing.invoices', 'odd schema.Mixed Case', 'public.images', 'public.users'];
    const backup = {
      tables: names.map((name) => {
        const [schema, table] = name.split('.') as [string, string];
        return { schema, table, rows: 1 };
      }),
    };
    const edited = toc.replace(/^(\d+; \d+ \d+ TABLE DATA public images )/m, ';$1');
    expect(tablesInScope(backup, { useList: toc })).toHaveLength(4);
    expect(tablesInScope(backup, { useList: edited }).map((t) => `${t.schema}.${t.table}`)).toEqual([
      'billing.invoices',
      'odd schema.Mixed Case',
      'public.users',
    ]);
  });
});

describe('tablesToReplace', () => {
  it('refuses a partial restore that selects none of the backup', () => {
    expect(() => tablesToReplace(manifest, { tables: ['nothing'] })).toThrow(
      '--table/--schema/--use-list: selects no table of this backup',
    );
    expect(tablesToReplace(manifest, { schemas: ['billing'] })).toHaveLength(1);
    expect(tablesToReplace({ tables: [] }, {})).toEqual([]);
  });
});

describe('restorePlan', () => {
  const backupManifest = {
    kind: 'daily',
    label: undefined,
    createdAt: '2024-03-15T02:00:00.000Z',
    serverVersion: '15.20',
    file: { name: 'app-backup-20240315-020000.dump.gpg', key: 'k', bytes: 900, sha256: 'f' },
    archive: { bytes: 1000, sha256: 'a', tocEntries: 36 },
    encryption: { method: 'openpgp', recipients: ['ABC'] },
    tables: manifest.tables,
  } as unknown as Manifest;
  const users = [
    { schema: 'public', table: 'users', rowsInBackup: 10, currentBytes: 8192 },
    { schema: 'billing', table: 'users', rowsInBackup: 3 },
  ];
  const facts: PlanFacts = {
    backup: {
      key: 'app-backup-20240315-020000.dump.gpg',
      location: 's3://bucket/pg/',
      manifest: backupManifest,
      signer: 'A'.repeat(40),
    },
    target: { host: 'db1', port: 5433, name: 'app', exists: true, tables: users },
    request: { tables: ['users'] },
    jobs: 4,
    now: '2024-03-16T08:30:00.000Z',
  };

  it('tells the approver the backup, its age, the target and each step', () => {
    const plan = restorePlan(facts);
    expect(plan.backup).toEqual({
      key: 'app-backup-20240315-020000.dump.gpg',
      location: 's3://bucket/pg/',
      kind: 'daily',
      label: undefined,
      createdAt: '2024-03-15T02:00:00.000Z',
      ageHours: 30.5,
      fileBytes: 900,
      archiveBytes: 1000,
      encrypted: true,
      tocEntries: 36,
      serverVersion: '15.20',
      signedBy: 'A'.repeat(40),
    });
    expect(plan.target).toEqual({ host: 'db1', port: 5433, database: 'app', exists: true, create: false });
    expect(plan.scope).toBe('partial');
    expect(plan.schemas).toEqual(['public', 'billing']);
    expect(plan.steps).toEqual([
      'refuse new connections to "app" and end the open ones',
      'pg_restore --clean --if-exists --jobs=4: replace 2 tables',
      'each table comes back whole: definition, rows, indexes, constraints, triggers, owned sequences',
      "compare the row counts of 2 tables with the backup's",
    ]);
  });

  it('creates a missing target when asked, and says it runs the SQL checks', () => {
    const plan = restorePlan({
      ...facts,
      target: { ...facts.target, exists: false },
      request: { createDb: true },
      verifySqlFile: '/etc/verify.sql',
    });
    expect(plan.scope).toBe('full');
    expect(plan.target.create).toBe(true);
    expect(plan.steps).toEqual([
      'create database "app"',
      'refuse new connections to "app" and end the open ones',
      'pg_restore --clean --if-exists --jobs=4: replace everything in the backup',
      "compare the row counts of 2 tables with the backup's",
      'run /etc/verify.sql',
    ]);
  });

  it('refuses a target that does not exist without --create-db', () => {
    expect(() => restorePlan({ ...facts, target: { ...facts.target, exists: false } })).toThrow(
      '--target-db: database "app" does not exist on db1:5433; pass --create-db to create it',
    );
  });
});

describe('foreignKeysRefusal', () => {
  it('names the first key into the restored tables, counts the others, and says what to do', () => {
    expect(foreignKeysRefusal([])).toBeUndefined();
    const refusal = foreignKeysRefusal([
      { from: 'public.images', to: 'public.users', constraint: 'images_user_id_fkey' },
      { from: 'public.likes', to: 'public.users', constraint: 'likes_user_id_fkey' },
    ]);
    expect(refusal).toBeInstanceOf(BackupError);
    expect(refusal?.kind).toBe('Configuration');
    expect(refusal?.message).toBe(
      '--table/--schema: public.images has a foreign key (images_user_id_fkey) to public.users (and 1 more), so pg_restore --clean cannot replace public.users alone',
    );
    expect(refusal?.hint).toContain('restore public.images with it (another --table)');
  });
});
