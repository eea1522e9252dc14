import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes } from '@temporalio/common';
import type { RestoreResult, RestoreWorkflowInput } from '../../workflows/restore.js';
import {
  DATABASE_ATTRIBUTE,
  DEFAULT_TASK_QUEUE,
  RESTORE_WORKFLOW,
  decideUpdate,
  restoreStatusQuery,
} from '../temporal/names.js';
import { BackupError, configError, isErrorKind } from '../core/errors.js';
import {
  approvalStatement,
  type ApprovalAnswer,
  type ApprovalChoice,
  type ApprovalInput,
  type ApprovalRequest,
} from '../core/restore/approval.js';
import type { StepProgress } from '../core/progress.js';
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

/**
 * Waits for a restore; onStatus sees each change (state, plan, phases), onRunning the bytes, rate
 * and time of the step that runs (StepProgress). Failures become BackupErrors.
 */
export async function waitForRestore(
  handle: WorkflowHandle,
  onStatus?: (status: RestoreStatus) => void,
  onRunning?: (steps: StepProgress[]) => void,
): Promise<RestoreResult> {
  return waitWatching<RestoreResult, RestoreStatus>(handle, restoreStatusQuery, onStatus, onRunning);
}

/**
 * Approves a restore through the decide update: resolves with the workflow's answer (approved, or
 * waiting for more approvers), or throws its refusal as a BackupError (exit code and hint).
 */
export async function approveRestore(
  client: Client,
  workflowId: string,
  approval: ApprovalInput,
): Promise<ApprovalAnswer> {
  if (!approval.by.trim()) throw configError("--by: the approver's name is required");
  return decide(client, workflowId, { ...approval, decision: 'approve' });
}

export async function rejectRestore(
  client: Client,
  workflowId: string,
  rejection: ApprovalInput,
): Promise<ApprovalAnswer> {
  if (!rejection.by.trim()) throw configError('--by: the name of who rejects is required');
  if (!rejection.reason?.trim()) throw configError('--reason: a rejection needs a reason');
  return decide(client, workflowId, { ...rejection, decision: 'reject' });
}

async function decide(client: Client, workflowId: string, request: ApprovalRequest): Promise<ApprovalAnswer> {
  const handle = client.workflow.getHandle(workflowId);
  await checkRunning(handle, workflowId);
  try {
    return await handle.executeUpdate(decideUpdate, { args: [request] });
  } catch (error) {
    // It ended between the check and the update.
    if (error instanceof WorkflowNotFoundError) await checkRunning(handle, workflowId);
    throw refusalOf(error);
  }
}

/** A restore that has ended (or never was) takes no decision: say which, by Temporal's record. */
async function checkRunning(handle: WorkflowHandle, workflowId: string): Promise<void> {
  const description = await handle.describe().catch((error: unknown) => {
    throw notFoundOr(error, workflowId);
  });
  const execution = description.status.name;
  if (execution !== 'RUNNING') throw ended(workflowId, execution);
}

function ended(workflowId: string, execution: string): BackupError {
  return configError(
    `restore ${workflowId} has ended (${execution.toLowerCase()}); there is nothing left to approve or reject`,
    `backupctl status ${workflowId} shows how it ended`,
  );
}

/** The workflow's refusal (an ApplicationFailure of one of our kinds) as a BackupError. */
function refusalOf(error: unknown): unknown {
  if (!(error instanceof WorkflowUpdateFailedError)) return error;
  const cause = error.cause;
  if (cause instanceof ApplicationFailure && isErrorKind(cause.type)) {
    const hint = typeof cause.details?.[0] === 'string' ? cause.details[0] : undefined;
    return new BackupError(cause.type, cause.message, { hint });
  }
  return new BackupError('General', cause?.message ?? error.message);
}

/**
 * The statement `by` signs to approve or reject this restore: its id, the digest of the plan it
 * published, the name and the decision (backupctl status ID --statement, approve --sign-with).
 */
export async function restoreStatement(
  client: Client,
  workflowId: string,
  decision: ApprovalChoice,
  by: string,
): Promise<string> {
  if (!by.trim()) throw configError('--by: the statement names who signs it');
  const { execution, status } = await restoreStatus(client, workflowId);
  if (execution !== 'RUNNING') throw ended(workflowId, execution);
  if (!status?.planDigest) {
    throw configError(
      `restore ${workflowId} has not published its plan yet; there is nothing to sign`,
      `wait until backupctl status ${workflowId} shows awaiting-approval`,
    );
  }
  return approvalStatement({ workflowId, planDigest: status.planDigest, by: by.trim(), decision });
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
