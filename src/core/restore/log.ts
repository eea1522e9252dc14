import type { RestoreStatus } from './status.js';

// The restore's log, BACKUP_DIR/logs/restore-<time>-<workflow id>.log: what was restored, who
// decided, how long each phase took, and how it ended.

/** A workflow id as part of a file name: anything but letters, digits, '.', '_' and '-' becomes '_'. */
export function fileSafe(workflowId: string): string {
  return workflowId.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** stamp is formatStamp of the finishing time, in BACKUP_TIMEZONE. */
export function restoreLogName(stamp: string, workflowId: string): string {
  return `restore-${stamp}-${fileSafe(workflowId)}.log`;
}

export interface LoggedRestore {
  workflowId: string;
  /** Where the backup was read, as the user would name it. */
  backupWhere: string;
  backupCreatedAt: string;
  status: RestoreStatus;
  finishedAt: string;
}

export function restoreLog({
  workflowId,
  backupWhere,
  backupCreatedAt,
  status,
  finishedAt,
}: LoggedRestore): string {
  const { plan, decision } = status;
  return [
    `restore ${workflowId}: ${status.state} at ${finishedAt}`,
    `backup: ${backupWhere} (taken ${backupCreatedAt})`,
    ...(plan
      ? [
          `target: ${plan.target.database} on ${plan.target.host}:${plan.target.port} (${plan.scope}, ${plan.tables.length} tables)`,
        ]
      : []),
    ...(decision
      ? [
          `${decision.approved ? 'approved' : 'rejected'} by ${decision.by} at ${decision.at}${decision.reason ? `: ${decision.reason}` : ''}`,
        ]
      : []),
    ...status.refused.map((r) => `refused ${r.signal} from ${r.by ?? '(no name)'} at ${r.at}: ${r.why}`),
    ...status.phases.map(
      (p) => `${p.phase.padEnd(9)} ${(p.durationMs / 1000).toFixed(1).padStart(8)} s  ${p.detail}`,
    ),
    ...(status.error ? [`error: ${status.error}`] : []),
    ...(status.targetTouched && status.state === 'failed'
      ? ['the target may be partly restored: run the restore again']
      : []),
    '',
  ].join('\n');
}
