import { describe, expect, it } from 'vitest';
import {
  expireArgs,
  fullRetentionDays,
  newestBackup,
  parseStanzaInfo,
} from '../../../src/core/pitr-backup.js';

/** What pgBackRest 2.45's `info --output=json` prints for a stanza with a full and a diff backup. */
const INFO = JSON.stringify([
  {
    archive: [
      {
        database: { id: 1, 'repo-key': 1 },
        id: '15-1',
        max: '000000010000000000000007',
        min: '000000010000000000000001',
      },
    ],
    backup: [
      {
        archive: { start: '000000010000000000000003', stop: '000000010000000000000003' },
        backrest: { format: 5, version: '2.45' },
        database: { id: 1, 'repo-key': 1 },
        error: false,
        info: { delta: 30_000_000, repository: { delta: 4_000_000, size: 4_000_000 }, size: 30_000_000 },
        label: '20261208-001500F',
        lsn: { start: '0/3000028', stop: '0/3000100' },
        prior: null,
        reference: null,
        timestamp: { start: 1796688900, stop: 1796688905 },
        type: 'full',
      },
      {
        archive: { start: '000000010000000000000006', stop: '000000010000000000000006' },
        backrest: { format: 5, version: '2.45' },
        database: { id: 1, 'repo-key': 1 },
        error: false,
        info: { delta: 90_000, repository: { delta: 20_000, size: 4_010_000 }, size: 30_100_000 },
        label: '20261208-001500F_20261208-002000D',
        prior: '20261208-001500F',
        reference: ['20261208-001500F'],
        timestamp: { start: 1796689200, stop: 1796689202 },
        type: 'diff',
      },
    ],
    cipher: 'aes-256-cbc',
    name: 'app',
    status: { code: 0, lock: { backup: { held: false } }, message: 'ok' },
  },
]);

describe('parseStanzaInfo', () => {
  it('reads each backup, its sizes, times and WAL range, and the archive', () => {
    const info = parseStanzaInfo(INFO, 'app');
    expect(info.status).toEqual({ code: 0, message: 'ok' });
    expect(info.archive).toEqual({ min: '000000010000000000000001', max: '000000010000000000000007' });
    expect(info.backups).toHaveLength(2);
    expect(info.backups[1]).toEqual({
      label: '20261208-001500F_20261208-002000D',
      type: 'diff',
      prior: '20261208-001500F',
      startedAt: '2026-12-08T00:20:00.000Z',
      stoppedAt: '2026-12-08T00:20:02.000Z',
      databaseBytes: 30_100_000,
      deltaBytes: 90_000,
      repoBytes: 4_010_000,
      repoDeltaBytes: 20_000,
      walStart: '000000010000000000000006',
      walStop: '000000010000000000000006',
    });
    expect(newestBackup(info)?.label).toBe('20261208-001500F_20261208-002000D');
    expect(newestBackup(info, 'full')?.label).toBe('20261208-001500F');
  });

  it('a new stanza has no backup and no archive; another stanza is an error', () => {
    const empty = JSON.stringify([
      { name: 'app', archive: [], backup: [], status: { code: 2, message: 'no valid backups' } },
    ]);
    const info = parseStanzaInfo(empty, 'app');
    expect(info.backups).toEqual([]);
    expect(info.archive).toBeUndefined();
    expect(newestBackup(info)).toBeUndefined();
    expect(() => parseStanzaInfo(empty, 'other')).toThrow(/stanza other/);
  });
});

describe('fullRetentionDays', () => {
  const asOf = new Date('2026-12-08T12:00:00Z');
  const day = 24 * 3600 * 1000;
  const ago = (days: number) => ({ createdAt: new Date(asOf.getTime() - days * day).toISOString() });

  it('reaches a day further back than the oldest logical backup kept', () => {
    expect(fullRetentionDays([ago(1), ago(6.5), ago(3)], asOf, 7)).toBe(8);
    expect(fullRetentionDays([ago(35)], asOf, 7)).toBe(36);
    // A backup taken just now still needs the full backup before it.
    expect(fullRetentionDays([ago(0)], asOf, 7)).toBe(1);
  });

  it('keeps the moment of every kept backup recoverable: the cut-off is a day before the oldest', () => {
    const kept = [ago(13.2), ago(2)];
    const days = fullRetentionDays(kept, asOf, 7);
    const cutoff = asOf.getTime() - days * day;
    // pgBackRest keeps the newest full backup started before the cut-off: it stopped before the oldest's moment.
    expect(Date.parse(kept[0]!.createdAt) - cutoff).toBeGreaterThanOrEqual(day);
    expect(Date.parse(kept[0]!.createdAt) - cutoff).toBeLessThan(2 * day);
  });

  it('with no logical backup kept, the daily window (at least a day)', () => {
    expect(fullRetentionDays([], asOf, 7)).toBe(7);
    expect(fullRetentionDays([], asOf, 0)).toBe(1);
    expect(fullRetentionDays([{ createdAt: 'not a date' }], asOf, 3)).toBe(3);
  });

  it('becomes the arguments of pgbackrest expire', () => {
    expect(expireArgs(8)).toEqual(['--repo1-retention-full-type=time', '--repo1-retention-full=8']);
  });
});
