import { describe, expect, it } from 'vitest';
import type { PhysicalBackup } from '../../../src/core/pitr-backup.js';
import {
  judgeArchiving,
  physicalBackupCheck,
  walArchiveAgeSeconds,
  walArchiveCheck,
  walArchiveMaxAgeSeconds,
} from '../../../src/core/pitr-health.js';

const now = 1_800_000_000;

describe('the WAL archive', () => {
  it('may be five archive timeouts old, at least five minutes', () => {
    expect(walArchiveMaxAgeSeconds(60)).toBe(300);
    expect(walArchiveMaxAgeSeconds(600)).toBe(3000);
  });

  it('is as old as its newest segment; since the reset when none was archived; unknown without either', () => {
    expect(walArchiveAgeSeconds({ lastArchivedSeconds: now - 42, failedCount: 0 }, now)).toBe(42);
    expect(walArchiveAgeSeconds({ statsResetSeconds: now - 900, failedCount: 0 }, now)).toBe(900);
    expect(walArchiveAgeSeconds({ failedCount: 0 }, now)).toBeUndefined();
  });

  it('has stopped when too old, fails when the last failure came after the last success', () => {
    expect(
      judgeArchiving(
        { lastArchivedSeconds: now - 30, failedCount: 3, lastFailedSeconds: now - 3600 },
        now,
        300,
      ),
    ).toBeUndefined();
    expect(judgeArchiving({ lastArchivedSeconds: now - 400, failedCount: 0 }, now, 300)).toMatch(
      /^WAL archiving stopped: the newest segment was archived 400 s ago \(limit 300 s\)$/,
    );
    expect(
      judgeArchiving(
        { lastArchivedSeconds: now - 400, failedCount: 7, lastFailedSeconds: now - 10 },
        now,
        300,
      ),
    ).toMatch(/, and archive_command fails \(7 failures\)$/);
    expect(
      judgeArchiving(
        { lastArchivedSeconds: now - 100, failedCount: 2, lastFailedSeconds: now - 10 },
        now,
        300,
      ),
    ).toMatch(/^WAL archiving fails: archive_command failed 2 times/);
  });

  it('as health checks', () => {
    const ok = walArchiveCheck(
      { lastArchivedSeconds: now - 20, lastArchivedWal: '000000010000000000000009', failedCount: 0 },
      now,
      300,
    );
    expect(ok).toEqual({
      check: 'wal-archive',
      ok: true,
      detail: 'newest WAL segment archived 20 s ago (000000010000000000000009) (limit 300 s)',
    });
    expect(walArchiveCheck({ lastArchivedSeconds: now - 900, failedCount: 0 }, now, 300).ok).toBe(false);
  });
});

describe('the newest physical backup', () => {
  const backup = {
    label: '20261208-001500F',
    type: 'full',
    stoppedAt: '2026-12-08T00:15:05Z',
  } as PhysicalBackup;
  it('must be younger than the limit', () => {
    expect(physicalBackupCheck(backup, 30, new Date('2026-12-08T12:15:05Z'))).toEqual({
      check: 'physical-backup',
      ok: true,
      detail: 'newest physical backup 20261208-001500F (full) is 12.0 h old (limit 30 h)',
    });
    expect(physicalBackupCheck(backup, 30, new Date('2026-12-10T00:15:05Z')).ok).toBe(false);
    expect(physicalBackupCheck(undefined, 30, new Date()).detail).toMatch(/^no physical backup yet/);
  });
});
