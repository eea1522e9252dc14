import type { PitrRestorePlan } from '../core/pitr-restore.js';
import type { BackupProgress, RestoreStatus, RetentionResult } from '../client/index.js';
import type { StepProgress } from '../core/progress.js';
import type { DriftReport } from '../core/reconcile.js';
import type { PlannedBackup } from '../retention/sweep.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** 0:07, 1:05, 1:02:03: minutes and seconds, with hours once it takes them. */
export function formatElapsed(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60), seconds % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** Bytes per second over a time, such as 9.4 MiB/s; none within the first second, when it means little. */
export function formatRate(bytes: number, ms: number): string | undefined {
  if (ms < 1000) return undefined;
  return `${formatBytes(bytes / (ms / 1000))}/s`;
}

/**
 * The line of a running step, from its heartbeat details: its phase, the bytes so far (against the
 * file's size, or beside the database's), the rate of this attempt and the time it has taken.
 */
export function formatStepProgress(progress: StepProgress, now: number): string {
  const elapsedMs = now - Date.parse(progress.startedAt);
  const parts: string[] = [];
  const { bytes, totalBytes, databaseBytes } = progress;
  if (bytes !== undefined) {
    if (totalBytes) {
      const percent = Math.min(100, Math.floor((bytes / totalBytes) * 100));
      parts.push(`${formatBytes(bytes)} of ${formatBytes(totalBytes)} (${percent} %)`);
    } else {
      parts.push(
        `${formatBytes(bytes)} written${databaseBytes ? ` (database ${formatBytes(databaseBytes)})` : ''}`,
      );
    }
    const rate = formatRate(bytes - (progress.resumedBytes ?? 0), elapsedMs);
    if (rate) parts.push(rate);
  }
  parts.push(`${formatElapsed(elapsedMs)} elapsed`);
  return `  ...  ${progress.phase.padEnd(8)} ${parts.join(', ')}`;
}

/** One line per finished step (the step now running is ProgressDisplay's). */
export function formatProgress(progress: BackupProgress): string[] {
  return progress.completed.map(
    (c) =>
      `  done ${c.step.padEnd(8)} ${c.durationMs === undefined ? '' : `${(c.durationMs / 1000).toFixed(1)} s  `}${c.detail}`,
  );
}

/** The step a backup runs now, before it reports any progress: `  ...  dump`. */
export function formatWaitingStep(progress: BackupProgress | undefined): string | undefined {
  if (!progress || ['done', 'failed'].includes(progress.step)) return undefined;
  return `  ...  ${progress.step}`;
}

/** One line per backup: what happens to it, why, and until when it is kept. */
export function formatPlan(plan: PlannedBackup[], asOf: Date): string {
  const deletions = plan.filter((p) => p.action === 'delete').length;
  const lines = [...plan]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .map((p) =>
      [
        p.action.padEnd(6),
        p.reason.padEnd(14),
        p.kind.padEnd(11),
        p.keepUntil ? `until ${p.keepUntil.slice(0, 10)}` : ''.padEnd(16),
        p.dataKey,
      ].join(' '),
    );
  return [`as of ${asOf.toISOString()}: ${plan.length} backups, ${deletions} to delete`, ...lines].join('\n');
}

export function formatCleanup(result: RetentionResult): string {
  const { abortedUploads, orphanData, danglingManifests } = result.cleanup;
  return [
    `deleted ${result.deleted.length} backups`,
    `cleaned up ${abortedUploads.length} unfinished uploads, ${orphanData.length} files without a manifest, ${danglingManifests.length} manifests without data`,
    ...(result.drift ? [formatDrift(result.drift)] : []),
    ...(result.physical
      ? [
          `physical: pgbackrest expire kept full backups of the last ${result.physical.retentionFullDays} days (and the one before); expired ${result.physical.expired.length}, kept ${result.physical.kept.length}`,
        ]
      : []),
  ].join('\n');
}

/** The reconciliation's verdict, and each drifting backup on a line of its own. */
function formatDrift({ checked, drift }: DriftReport): string {
  if (drift.length === 0) return `copies: ${checked} backups compared, none drift`;
  const lines = drift.map((d) => `  ${d.dataKey}: ${d.problems.join('; ')}`);
  return [`copies: ${drift.length} of ${checked} backups drift (see backupctl health)`, ...lines].join('\n');
}

const TABLES_SHOWN = 20;

/** A restore's state, plan (what will be replaced, where, how old the backup is), decision and phases. */
export function formatRestoreStatus(status: RestoreStatus): string {
  const lines = [`  state: ${status.state}`];
  const { plan } = status;
  if (plan) {
    const { backup, target } = plan;
    lines.push(
      `  backup: ${backup.key} (${backup.kind}${backup.label ? ` ${backup.label}` : ''}, taken ${backup.createdAt}, ${backup.ageHours} h old, ${formatBytes(backup.fileBytes)}${backup.encrypted ? ', encrypted' : ''})`,
      ...(backup.signedBy === 'unsigned'
        ? ['  signature: NONE: an unsigned backup, accepted by --allow-unsigned']
        : backup.signedBy
          ? [`  signed by: ${backup.signedBy}`]
          : []),
      ...(backup.passedOver ?? []).map((p) => `  passed over: ${p}`),
      `  target: "${target.database}" on ${target.host}:${target.port}${target.create ? ' (to be created)' : ''}`,
      `  ${plan.scope} restore, ${plan.tables.length} tables in ${plan.schemas.length} schemas, pg_restore --jobs=${plan.jobs}; replaces:`,
      ...plan.tables
        .slice(0, TABLES_SHOWN)
        .map(
          (t) =>
            `    ${t.schema}.${t.table}: ${t.rowsInBackup} rows in the backup; now ${t.currentBytes === undefined ? 'absent' : formatBytes(t.currentBytes)}`,
        ),
      ...(plan.tables.length > TABLES_SHOWN
        ? [`    ... and ${plan.tables.length - TABLES_SHOWN} more (--json lists all)`]
        : []),
    );
  }
  if (status.pitrPlan) lines.push(...formatPitrPlan(status.pitrPlan));
  if (status.planDigest) lines.push(`  plan digest: sha256:${status.planDigest}`);
  if (status.approvalsNeeded !== undefined && !status.decision) {
    const so = status.approvals?.map((a) => a.by).join(', ');
    lines.push(
      `  approvals: ${status.approvals?.length ?? 0} of ${status.approvalsNeeded}${so ? ` (${so})` : ''}${status.signedApprovals ? ', each signed with a key of RESTORE_APPROVER_KEYS' : ''}`,
    );
  }
  if (status.decision) {
    const d = status.decision;
    lines.push(
      `  ${d.approved ? 'approved' : 'rejected'} by ${d.by} at ${d.at}${d.reason ? `: ${d.reason}` : ''}`,
    );
  }
  for (const r of status.refused) lines.push(`  refused ${r.signal} from ${r.by ?? '(no name)'}: ${r.why}`);
  for (const p of status.phases) {
    lines.push(`  done ${p.phase.padEnd(9)} ${(p.durationMs / 1000).toFixed(1)} s  ${p.detail}`);
  }
  if (status.error) lines.push(`  error: ${status.error}`);
  if (status.targetTouched && status.state === 'restoring') {
    lines.push('  the target is being replaced: it may be partly restored until the restore completes');
  }
  if (status.targetTouched && status.state === 'failed') {
    lines.push('  the target may be partly restored: run the restore again (it cleans before it restores)');
  }
  return lines.join('\n');
}

/** Rows under a header, each column as wide as its widest cell. */
export function formatTable(table: string[][]): string {
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  return table
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A restore to a moment's plan: the base backup, the WAL, the time it expects, what it replaces. */
function formatPitrPlan(plan: PitrRestorePlan): string[] {
  const { base, target } = plan;
  return [
    `  to: ${plan.to ?? 'the end of the archive'} (${plan.scope})`,
    `  base backup: ${base.label} (${base.type}, ended ${base.stoppedAt}, ${formatBytes(base.databaseBytes)})`,
    `  WAL: ${plan.wal.from} to at most ${plan.wal.to}`,
    `  expected time: about ${plan.expectedSeconds} s`,
    `  target: "${target.database}" on ${target.host}:${target.port}${target.create ? ' (to be created)' : ''}`,
    ...(plan.scope === 'tables'
      ? [
          '  replaces:',
          ...plan.tables.map((t) => `    ${t.schema}.${t.table}${t.exists ? '' : ' (absent now: created)'}`),
        ]
      : []),
    ...plan.steps.map((step, i) => `  step ${i + 1}: ${step}`),
  ];
}
