import type { Manifest } from './manifest.js';
import type { DrillReport } from './outcome.js';
import type { DriftReport } from './reconcile.js';

// `backupctl health`, the pure part: facts gathered by src/health/ in, one verdict per check out. Each
// check answers one question of the guide's daily checklist (and of check-backup-health.sh).

export const HEALTH_CHECKS = [
  'backup-age',
  'copies',
  'disk-space',
  'schedules',
  'drill',
  // PITR=pgbackrest only (src/core/pitr-health.ts).
  'wal-archive',
  'physical-backup',
] as const;
export type HealthCheck = (typeof HEALTH_CHECKS)[number];

export interface CheckResult {
  check: HealthCheck;
  ok: boolean;
  detail: string;
}

/** How many drifting backups a line names; --json lists them all. */
export const DRIFT_SHOWN = 3;

const HOUR_MS = 3_600_000;
const MIB = 1024 * 1024;

const pass = (check: HealthCheck, detail: string): CheckResult => ({ check, ok: true, detail });
export const failed = (check: HealthCheck, detail: string): CheckResult => ({ check, ok: false, detail });

/** The line a check prints: `ok|FAIL <database>/<check>: <detail>`. */
export function formatCheck(database: string, result: CheckResult): string {
  return `${result.ok ? 'ok' : 'FAIL'} ${database}/${result.check}: ${result.detail}`;
}

function hoursBetween(iso: string, now: Date): number {
  return (now.getTime() - Date.parse(iso)) / HOUR_MS;
}

/** (a) The newest complete backup must be younger than HEALTH_MAX_AGE_HOURS. */
export function backupAgeCheck(newest: Manifest | undefined, maxAgeHours: number, now: Date): CheckResult {
  if (!newest) return failed('backup-age', 'no complete backup');
  const age = hoursBetween(newest.createdAt, now);
  const detail = `newest complete backup ${newest.file.key} is ${age.toFixed(1)} h old (limit ${maxAgeHours} h)`;
  return age < maxAgeHours ? pass('backup-age', detail) : failed('backup-age', detail);
}

/** (b) Every complete backup is in both places, the same file (3-2-1); the drifting ones, first few named. */
export function copiesCheck(report: DriftReport, withRemote: boolean): CheckResult {
  if (!withRemote)
    return pass('copies', `${report.checked} backups, local only (no bucket: S3_BUCKET is not set)`);
  const { drift } = report;
  if (drift.length === 0) {
    return pass(
      'copies',
      `${report.checked} backups, each locally and in the bucket with the same size and checksum`,
    );
  }
  const named = drift.slice(0, DRIFT_SHOWN).map((d) => `${d.dataKey} (${d.problems.join('; ')})`);
  const more = drift.length > DRIFT_SHOWN ? `, and ${drift.length - DRIFT_SHOWN} more` : '';
  const repairable = drift.filter((d) => d.repairable).length;
  const hint = repairable ? `; ${repairable} repairable with --repair` : '';
  return failed(
    'copies',
    `${drift.length} of ${report.checked} backups drift: ${named.join(', ')}${more}${hint}`,
  );
}

/** (c) BACKUP_DIR must keep HEALTH_MIN_FREE_MB free, or the next backup may not fit. */
export function freeSpaceCheck(dir: string, freeBytes: number, minFreeMb: number): CheckResult {
  const freeMb = Math.floor(freeBytes / MIB);
  const detail = `${freeMb} MiB free in ${dir} (minimum ${minFreeMb} MiB)`;
  return freeMb >= minFreeMb ? pass('disk-space', detail) : failed('disk-space', detail);
}

/** A schedule and its recent runs, newest first, each with its workflow's status (Temporal's names). */
export interface ScheduleFacts {
  id: string;
  state: 'active' | 'paused' | 'missing';
  note?: string;
  runs: { workflowId: string; status: string }[];
}

/** Closed runs that did not complete. A run still going says nothing yet; the one before it does. */
const FAILED_STATUSES = new Set(['FAILED', 'TIMED_OUT', 'TERMINATED', 'CANCELLED']);
const SUCCEEDED_STATUSES = new Set(['COMPLETED', 'CONTINUED_AS_NEW']);

/** (d) Every schedule exists, is not paused, and its last finished run did not fail. */
export function schedulesCheck(schedules: ScheduleFacts[]): CheckResult {
  const problems = schedules.flatMap(scheduleProblems);
  if (problems.length > 0) return failed('schedules', problems.join('; '));
  const ids = schedules.map((s) => s.id).join(', ');
  const finished = schedules.filter(lastFinishedRun).length;
  return pass('schedules', `${ids} active; ${finished} with a finished run, none failed last`);
}

function scheduleProblems(schedule: ScheduleFacts): string[] {
  if (schedule.state === 'missing') return [`${schedule.id} missing (backupctl schedules apply)`];
  const problems =
    schedule.state === 'paused' ? [`${schedule.id} paused${schedule.note ? `: ${schedule.note}` : ''}`] : [];
  const last = lastFinishedRun(schedule);
  if (last && FAILED_STATUSES.has(last.status)) {
    problems.push(
      `${schedule.id}: last run ${last.workflowId} ${last.status.toLowerCase().replace('_', ' ')}`,
    );
  }
  return problems;
}

function lastFinishedRun(schedule: ScheduleFacts): ScheduleFacts['runs'][number] | undefined {
  return schedule.runs.find((r) => FAILED_STATUSES.has(r.status) || SUCCEEDED_STATUSES.has(r.status));
}

/** (e) The newest successful DR drill must be younger than DRILL_MAX_AGE_HOURS. */
export function drillCheck(reports: DrillReport[], maxAgeHours: number, now: Date): CheckResult {
  const newestFirst = [...reports].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  const success = newestFirst.find((r) => r.ok);
  const lastFailure = newestFirst[0]?.ok === false ? newestFirst[0] : undefined;
  const failure = lastFailure ? `; the last drill failed: ${lastFailure.error ?? 'no error recorded'}` : '';
  if (!success) return failed('drill', `no successful drill yet${failure}`);
  const age = hoursBetween(success.finishedAt, now);
  const detail = `newest successful drill ${age.toFixed(1)} h old (limit ${maxAgeHours} h)${failure}`;
  return age < maxAgeHours ? pass('drill', detail) : failed('drill', detail);
}
