import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { RestoreResult, RestoreWorkflowInput } from '../../workflows/restore.js';
import {
  DATABASE_ATTRIBUTE,
  DEFAULT_TASK_QUEUE,
  RESTORE_WORKFLOW,
  approveSignal,
  rejectSignal,
  restoreStatusQuery,
} from '../temporal/names.js';
import { BackupError, configError } from '../core/errors.js';
import type { ApprovalInput } from '../core/restore/approval.js';
import type { RestoreRequest } from '../core/restore/request.js';
import type { RestoreStatus } from '../core/restore/status.js';
import { waitWatching, workflowId } from './runs.js';

export type { RestoreRequest, RestoreResult, RestoreStatus };

export interface StartRestoreOptions extends RestoreRequest {
  /** The configuration's database (DB_NAME): whose backups, and the default target. */
  database: string;
  /** The shared task queue (TEMPORAL_TASK_QUEUE); restores run on `<queue>-restore`. */
  taskQueue?: string;
  workflowId?: string;
}

export function restoreWorkflowId(database: string, now = new Date()): string {
  return workflowId('restore', database, undefined, now);
}

/**
 * Starts a restore. Unless `force` or `dryRun`, it stops at the plan and waits for approveRestore
 * (or `temporal workflow signal --name approve`); restoreStatus shows the plan meanwhile.
 */
export async function startRestore(client: Client, options: StartRestoreOptions): Promise<WorkflowHandle> {
  const { database, taskQueue = DEFAULT_TASK_QUEUE, workflowId: id, ...request } = options;
  checkRequest(request);
  const input: RestoreWorkflowInput = { ...request, database, taskQueue };
  return client.workflow.start(RESTORE_WORKFLOW, {
    args: [input],
    taskQueue,
    workflowId: id ?? restoreWorkflowId(database),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: database }]),
    staticSummary: `Restore of ${database}${request.dryRun ? ' (dry run)' : ''}`,
  });
}

/** What a user can get wrong before anything starts: exit code 3, with the flag named. */
function checkRequest(request: RestoreRequest): void {
  const { source } = request;
  if ('latest' in source && source.before !== undefined && Number.isNaN(Date.parse(source.before))) {
    throw configError(`--before: "${source.before}" is not an ISO 8601 time, such as 2024-03-15T02:00:00Z`);
  }
  if (
    request.jobs !== undefined &&
    !(Number.isInteger(request.jobs) && request.jobs >= 1 && request.jobs <= 64)
  ) {
    throw configError('--jobs: expected a whole number from 1 to 64');
  }
  if (request.dryRun && request.force) throw configError('--dry-run and --force: choose one');
}

/** Waits for a restore; onStatus sees each change (state, plan, phases). Failures become BackupErrors. */
export async function waitForRestore(
  handle: WorkflowHandle,
  onStatus?: (status: RestoreStatus) => void,
): Promise<RestoreResult> {
  return waitWatching<RestoreResult, RestoreStatus>(handle, restoreStatusQuery, onStatus);
}

export async function approveRestore(
  client: Client,
  workflowId: string,
  approval: ApprovalInput,
): Promise<void> {
  if (!approval.by.trim()) throw configError("--by: the approver's name is required");
  await signalRestore(client, workflowId, 'approve', approval);
}

export async function rejectRestore(
  client: Client,
  workflowId: string,
  rejection: ApprovalInput,
): Promise<void> {
  if (!rejection.by.trim()) throw configError('--by: the name of who rejects is required');
  if (!rejection.reason?.trim()) throw configError('--reason: a rejection needs a reason');
  await signalRestore(client, workflowId, 'reject', rejection);
}

async function signalRestore(
  client: Client,
  workflowId: string,
  name: 'approve' | 'reject',
  input: ApprovalInput,
): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    await handle.signal(name === 'approve' ? approveSignal : rejectSignal, input);
  } catch (error) {
    throw notFoundOr(error, workflowId);
  }
}

export interface RestoreOverview {
  workflowId: string;
  /** Temporal's view: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT. */
  execution: string;
  status?: RestoreStatus;
  result?: RestoreResult;
}

/**
 * A restore's state, plan and phases: from the running workflow (a query), or from its result once
 * it has ended. A failed one is read by a query, which a worker answers from its history.
 */
export async function restoreStatus(client: Client, workflowId: string): Promise<RestoreOverview> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((error: unknown) => {
    throw notFoundOr(error, workflowId);
  });
  const execution = description.status.name;
  if (execution === 'COMPLETED') {
    const result = (await handle.result()) as RestoreResult;
    return { workflowId, execution, status: result.status, result };
  }
  const status = await handle.query(restoreStatusQuery).catch(() => undefined);
  return { workflowId, execution, status };
}

function notFoundOr(error: unknown, workflowId: string): unknown {
  if (error instanceof WorkflowNotFoundError) {
    return new BackupError('Configuration', `no restore with the id ${workflowId}`, {
      hint: 'the id is printed by backupctl restore; the Temporal UI lists them',
    });
  }
  return error;
}
