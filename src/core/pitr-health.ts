import type { CheckResult } from './health.js';
import type { PhysicalBackup } from './pitr-backup.js';

// How old the newest archived WAL segment may be, and what the archiver's state says, pure: shared by
// the metrics (postgres_backup_wal_archive_*), `backupctl health` and the alert's threshold.

/** What the server's archiver reports (pg_stat_archiver), as Unix seconds. */
export interface ArchiverFacts {
  /** When the newest segment was archived; undefined when none was since the statistics were reset. */
  lastArchivedSeconds?: number;
  lastArchivedWal?: string;
  /** Failed attempts to archive since the statistics were reset (a segment that fails is retried). */
  failedCount: number;
  lastFailedSeconds?: number;
  statsResetSeconds?: number;
}

/**
 * The age past which archiving has stopped: five archive timeouts, at least five minutes. The worker's
 * heartbeat writes every minute, so a healthy server switches a segment each archive_timeout.
 */
export function walArchiveMaxAgeSeconds(archiveTimeoutSeconds: number): number {
  return Math.max(300, 5 * archiveTimeoutSeconds);
}

/** Seconds since the newest segment was archived (since the reset, when none was), or undefined. */
export function walArchiveAgeSeconds(facts: ArchiverFacts, nowSeconds: number): number | undefined {
  const since = facts.lastArchivedSeconds ?? facts.statsResetSeconds;
  return since === undefined ? undefined : Math.max(0, nowSeconds - since);
}

/** `health`'s verdict on archiving: undefined when it is fine, else why not. */
export function judgeArchiving(
  facts: ArchiverFacts,
  nowSeconds: number,
  maxAgeSeconds: number,
): string | undefined {
  const age = walArchiveAgeSeconds(facts, nowSeconds);
  const failing =
    facts.lastFailedSeconds !== undefined &&
    (facts.lastArchivedSeconds === undefined || facts.lastFailedSeconds > facts.lastArchivedSeconds);
  if (age !== undefined && age > maxAgeSeconds) {
    const why = failing ? `, and archive_command fails (${facts.failedCount} failures)` : '';
    return `WAL archiving stopped: the newest segment was archived ${Math.round(age)} s ago (limit ${maxAgeSeconds} s)${why}`;
  }
  if (failing)
    return `WAL archiving fails: archive_command failed ${facts.failedCount} times, the last after the newest segment archived`;
  return undefined;
}

/** `health`'s wal-archive check (PITR=pgbackrest): the archive is younger than its limit, and not failing. */
export function walArchiveCheck(
  facts: ArchiverFacts,
  nowSeconds: number,
  maxAgeSeconds: number,
): CheckResult {
  const problem = judgeArchiving(facts, nowSeconds, maxAgeSeconds);
  if (problem) return { check: 'wal-archive', ok: false, detail: problem };
  const age = walArchiveAgeSeconds(facts, nowSeconds);
  const newest = facts.lastArchivedWal ? ` (${facts.lastArchivedWal})` : '';
  const detail =
    age === undefined
      ? 'no WAL segment archived yet'
      : `newest WAL segment archived ${Math.round(age)} s ago${newest} (limit ${maxAgeSeconds} s)`;
  return { check: 'wal-archive', ok: true, detail };
}

/** `health`'s physical-backup check: the newest pgBackRest backup is younger than HEALTH_MAX_AGE_HOURS. */
export function physicalBackupCheck(
  newest: PhysicalBackup | undefined,
  maxAgeHours: number,
  now: Date,
): CheckResult {
  if (!newest)
    return { check: 'physical-backup', ok: false, detail: 'no physical backup yet (backupctl pitr backup)' };
  const age = (now.getTime() - Date.parse(newest.stoppedAt)) / 3_600_000;
  const detail = `newest physical backup ${newest.label} (${newest.type}) is ${age.toFixed(1)} h old (limit ${maxAgeHours} h)`;
  return { check: 'physical-backup', ok: age < maxAgeHours, detail };
}
