import { describe, expect, it } from 'vitest';
import {
  baseBackupFor,
  momentOf,
  pitrPlan,
  qualifiedTable,
  segmentsBetween,
} from '../../../src/core/pitr-restore.js';
import { parseStanzaInfo } from '../../../src/core/pitr-backup.js';

// Restore to a moment, the pure part: pgbackrest info, the base backup for a moment, the plan.

const info = parseStanzaInfo(
  JSON.stringify([
    {
      name: 'app',
      status: { code: 0, message: 'ok' },
      backup: [
        {
          label: '20261207-020000F',
          type: 'full',
          timestamp: {
            start: Date.parse('2026-12-07T02:00:00Z') / 1000,
            stop: Date.parse('2026-12-07T02:05:00Z') / 1000,
          },
          archive: { start: '000000010000000000000004', stop: '000000010000000000000005' },
          info: { size: 1_000_000, delta: 1_000_000, repository: { size: 200_000, delta: 200_000 } },
        },
        {
          label: '20261207-020000F_20261207-120000D',
          type: 'diff',
          timestamp: {
            start: Date.parse('2026-12-07T12:00:00Z') / 1000,
            stop: Date.parse('2026-12-07T12:01:00Z') / 1000,
          },
          archive: { start: '000000010000000000000010', stop: '000000010000000000000010' },
          info: { size: 1_000_000, delta: 10_000, repository: { size: 20_000, delta: 2_000 } },
        },
      ],
      archive: [{ id: '15-1', min: '000000010000000000000001', max: '000000010000000000000020' }],
    },
  ]),
  'app',
);
const now = '2026-12-07T15:00:00.000Z';

describe('restore to a moment: the plan', () => {
  it('reads pgbackrest info', () => {
    expect(info.backups.map((b) => [b.type, b.stoppedAt, b.walStart])).toEqual([
      ['full', '2026-12-07T02:05:00.000Z', '000000010000000000000004'],
      ['diff', '2026-12-07T12:01:00.000Z', '000000010000000000000010'],
    ]);
    expect(info.archive).toEqual({ min: '000000010000000000000001', max: '000000010000000000000020' });
  });

  it('takes the newest backup that ended before the moment, the newest without one', () => {
    expect(baseBackupFor(info, '2026-12-07T14:03:00.000Z', now).type).toBe('diff');
    expect(baseBackupFor(info, '2026-12-07T12:00:30.000Z', now).type).toBe('full');
    expect(baseBackupFor(info, undefined, now).type).toBe('diff');
  });

  it('refuses a moment before the oldest backup ended, or in the future, or with no backup', () => {
    expect(() => baseBackupFor(info, '2026-12-07T02:04:00.000Z', now)).toThrow(
      '--to: 2026-12-07T02:04:00.000Z is before the oldest physical backup ended (2026-12-07T02:05:00.000Z)',
    );
    expect(() => baseBackupFor(info, '2026-12-07T15:00:01.000Z', now)).toThrow('is in the future');
    expect(() => baseBackupFor({ ...info, backups: [] }, undefined, now)).toThrow(
      'no physical backup in the repository',
    );
  });

  it('--to needs a zone; a moment as PostgreSQL writes it is read', () => {
    expect(momentOf('2026-12-07 14:03:00+00')).toBe('2026-12-07T14:03:00.000Z');
    expect(momentOf('2026-12-07T15:03:00+01:00')).toBe('2026-12-07T14:03:00.000Z');
    expect(momentOf('2026-12-07T14:03:00Z')).toBe('2026-12-07T14:03:00.000Z');
    expect(() => momentOf('2026-12-07 14:03:00')).toThrow('is not a moment with its time zone');
    expect(() => momentOf('yesterday+00')).toThrow('is not a moment');
  });

  it('names the base backup, the WAL range, the expected time and the tables replaced', () => {
    const plan = pitrPlan({
      info,
      to: '2026-12-07T14:03:00.000Z',
      now,
      scope: 'tables',
      source: 'app',
      target: { host: 'db', port: 5432, database: 'app', exists: true, create: false },
      tables: [{ schema: 'public', table: 'orders', exists: false }],
    });
    expect(plan.base.label).toBe('20261207-020000F_20261207-120000D');
    expect(plan.wal).toEqual({ from: '000000010000000000000010', to: '000000010000000000000020' });
    expect(segmentsBetween(plan.wal.from, plan.wal.to)).toBe(17);
    expect(plan.expectedSeconds).toBeGreaterThanOrEqual(10);
    expect(plan.steps.join('\n')).toContain('pg_dump --table of public.orders');
    expect(qualifiedTable('orders')).toEqual({ schema: 'public', table: 'orders' });
    expect(() => qualifiedTable('a.b.c')).toThrow('is not schema.table');
  });
});
