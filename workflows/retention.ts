import { patched, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { PitrBackupActivities } from '../activities/pitr-backup.js';
import type { RetentionActivities } from '../activities/retention.js';
import type { DriftReport } from '../src/core/reconcile.js';
import type { CleanupReport, PlannedBackup } from '../src/retention/sweep.js';
import type { ExpireOutcome } from '../src/pitr/backup.js';
import { pitrHostOptions, retentionHostOptions, sharedQueueOptions } from '../src/temporal/names.js';
import { reportedRun } from './report.js';

export interface RetentionRequest {
  /** DB_NAME of the database whose backups to sweep; may be left out when workers serve only one. */
  database?: string;
  /** ISO time to decide as of; the workflow's start when absent. */
  asOf?: string;
}

export interface RetentionResult {
  asOf: string;
  plan: PlannedBackup[];
  deleted: string[];
  cleanup: CleanupReport;
  /** Where the local and remote copies of the kept backups disagree; absent in sweeps started before it. */
  drift?: DriftReport;
  /** PITR=pgbackrest: what `pgbackrest expire` removed and kept, with the window it was given. */
  physical?: ExpireOutcome;
}

const shared = proxyActivities<RetentionActivities>(sharedQueueOptions());

/**
 * The retention sweep: plan (keep or delete, and why, for each complete backup), delete what the
 * plan says one backup at a time, remove what failed runs left, then compare the local and remote
 * copies of what is left (3-2-1 reconciliation). Each deletion is an activity that can be retried,
 * so a sweep stopped half-way is finished by Temporal, or by the next sweep.
 */
export async function retentionWorkflow(request: RetentionRequest = {}): Promise<RetentionResult> {
  return reportedRun(
    'retention',
    request.database,
    () => sweep(request),
    (result) => ({ staleUploads: result.cleanup.abortedUploads.length }),
  );
}

async function sweep(request: RetentionRequest): Promise<RetentionResult> {
  const asOf = request.asOf ?? new Date(workflowInfo().startTime).toISOString();
  const { database } = request;
  const taskQueue = await shared.retentionHost({ database });
  const host = proxyActivities<RetentionActivities>(retentionHostOptions(taskQueue));
  const plan = await host.planRetention({ database, asOf });
  const doomed = plan.filter((p) => p.action === 'delete');
  const deleted: string[] = [];
  for (const backup of doomed) {
    setCurrentDetails(`deleting ${deleted.length + 1} of ${doomed.length}: ${backup.dataKey}`);
    await host.deleteBackup.executeWithOptions({ summary: `delete ${backup.dataKey}` }, [
      { database, id: backup.id, dataKey: backup.dataKey },
    ]);
    deleted.push(backup.dataKey);
  }
  const cleanup = await host.cleanupIncomplete({ database });
  // Sweeps in flight when this step was added must replay without it.
  if (!patched('reconcile')) return { asOf, plan, deleted, cleanup };
  const drift = await host.reconcileCopies({ database });
  if (!patched('pitr-expire')) return { asOf, plan, deleted, cleanup, drift };
  // The physical backups and WAL that every logical backup kept needs to be recovered to its moment.
  const pitr = proxyActivities<PitrBackupActivities>(pitrHostOptions(taskQueue));
  const kept = plan.filter((p) => p.action === 'keep').map((p) => ({ createdAt: p.createdAt }));
  const physical = await pitr.pgbackrestExpire({ database, asOf, kept });
  return { asOf, plan, deleted, cleanup, drift, ...(physical ? { physical } : {}) };
}
