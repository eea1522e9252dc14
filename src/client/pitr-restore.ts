import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { PitrRestoreResult, PitrRestoreWorkflowInput } from '../../workflows/pitr-restore.js';
import { configError } from '../core/errors.js';
import type { PitrRestoreRequest } from '../core/pitr-restore.js';
import { DATABASE_ATTRIBUTE, DEFAULT_TASK_QUEUE, PITR_RESTORE_WORKFLOW } from '../temporal/names.js';
import { workflowId } from './runs.js';

export type { PitrRestoreRequest, PitrRestoreResult };

/**
 * Starts a restore to a moment (backupctl restore --to). Like every restore it stops at the plan
 * and waits for approveRestore unless `force` or `dryRun`; restoreStatus shows the plan meanwhile.
 */
export async function startPitrRestore(
  client: Client,
  options: PitrRestoreRequest & { database: string; taskQueue?: string; workflowId?: string },
): Promise<WorkflowHandle> {
  const { database, taskQueue = DEFAULT_TASK_QUEUE, workflowId: id, ...request } = options;
  if (request.dryRun && request.force) throw configError('--dry-run and --force: choose one');
  const input: PitrRestoreWorkflowInput = { ...request, database, taskQueue };
  return client.workflow.start(PITR_RESTORE_WORKFLOW, {
    args: [input],
    taskQueue,
    workflowId: id ?? workflowId('restore', database, undefined, new Date()),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: database }]),
    staticSummary: `Restore of ${database} to ${request.to ?? 'the end of the archive'}${request.dryRun ? ' (dry run)' : ''}`,
  });
}
