import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, TypedSearchAttributes, type QueryDefinition } from '@temporalio/common';
import {
  BACKUP_WORKFLOW,
  DATABASE_ATTRIBUTE,
  LABEL_ATTRIBUTE,
  RETENTION_WORKFLOW,
  progressQuery,
  type BackupProgress,
} from '../../workflows/shared.js';
import type { BackupRequest, BackupResult } from '../../workflows/backup.js';
import type { RetentionRequest, RetentionResult } from '../../workflows/retention.js';
import type { TemporalConfig } from '../config/index.js';
import { BackupError, isErrorKind } from '../core/errors.js';
import { isValidLabel } from '../core/naming.js';
import { temporalConnectionOptions } from '../temporal/connection.js';

export type { BackupProgress, BackupRequest, BackupResult, RetentionRequest, RetentionResult };
export { BackupError, exitCodeOf } from '../core/errors.js';
export { loadConfig, type Config } from '../config/index.js';
export {
  approveRestore,
  rejectRestore,
  restoreStatus,
  restoreWorkflowId,
  startRestore,
  waitForRestore,
  type RestoreResult,
  type RestoreStatus,
  type RestoreRequest,
  type StartRestoreOptions,
  type RestoreOverview,
} from './restore.js';
export {
  startDrill,
  startReread,
  waitForDrill,
  waitForReread,
  type DrillResult,
  type RereadResult,
  type StartDrillOptions,
} from './drill.js';
export { startRekey, waitForRekey, type RekeyResult, type StartRekeyOptions } from './rekey.js';

/** Connects a Temporal client from the TEMPORAL_* configuration. */
export async function connectClient(config: TemporalConfig): Promise<Client> {
  try {
    const connection = await Connection.connect(temporalConnectionOptions(config));
    return new Client({ connection, namespace: config.namespace });
  } catch (error) {
    throw new BackupError(
      'General',
      `cannot reach Temporal at ${config.address}: ${(error as Error).message}`,
      {
        hint: 'start it with scripts/services.sh up, or fix TEMPORAL_ADDRESS',
      },
    );
  }
}

/** temporal.api.enums.v1.TaskQueueType's WORKFLOW (1) and ACTIVITY (2): a queue has pollers of each kind. */
const TASK_QUEUE_TYPES = [1, 2] as const;

/**
 * Whether any worker polls a task queue now, for workflows or activities (the restore queue has
 * activity pollers only): without one, a started run waits until one does.
 */
export async function hasPollers(client: Client, namespace: string, taskQueue: string): Promise<boolean> {
  for (const taskQueueType of TASK_QUEUE_TYPES) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType,
    });
    if ((pollers?.length ?? 0) > 0) return true;
  }
  return false;
}

export interface StartBackupOptions extends BackupRequest {
  /** The database name, for the workflow id and the BackupDatabase search attribute. */
  database: string;
  /** The shared task queue the workers poll (TEMPORAL_TASK_QUEUE). */
  taskQueue?: string;
  workflowId?: string;
}

/**
 * Starts a backup, for example a pre-upgrade one from a deploy pipeline:
 * `await waitForBackup(await startBackup(client, { database: 'app', label: 'pre-v2.0-upgrade' }))`.
 */
export async function startBackup(client: Client, options: StartBackupOptions): Promise<WorkflowHandle> {
  if (options.label !== undefined && !isValidLabel(options.label)) {
    throw new BackupError(
      'Configuration',
      `--label: "${options.label}" must be letters, digits, dot, dash or underscore`,
    );
  }
  const request: BackupRequest = {
    database: options.database,
    ...(options.label ? { label: options.label } : {}),
  };
  return client.workflow.start(BACKUP_WORKFLOW, {
    args: [request],
    taskQueue: options.taskQueue ?? 'durable-backup',
    workflowId: options.workflowId ?? backupWorkflowId(options.database, options.label),
    typedSearchAttributes: new TypedSearchAttributes([
      { key: DATABASE_ATTRIBUTE, value: options.database },
      ...(options.label ? [{ key: LABEL_ATTRIBUTE, value: options.label }] : []),
    ]),
    staticSummary: `Backup of ${options.database}${options.label ? ` (${options.label})` : ''}`,
  });
}

/** A database name as it may stand in a workflow or schedule id. */
export function safeIdPart(database: string): string {
  return database.replace(/[^A-Za-z0-9._-]+/g, '_');
}

export function backupWorkflowId(database: string, label?: string, now = new Date()): string {
  return workflowId('backup', database, label, now);
}

/** <kind>-<database>[-<label>]-YYYYMMDD-HHMMSS-<nonce>: readable in the UI, unique per start. */
export function workflowId(kind: string, database: string, label?: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const nonce = Math.random().toString(36).slice(2, 6);
  return [kind, safeIdPart(database), label, stamp, nonce].filter(Boolean).join('-');
}

/**
 * Waits for a backup; onProgress sees each change of step. A failure becomes a BackupError whose
 * kind (hence exit code) is the failing activity's.
 */
export async function waitForBackup(
  handle: WorkflowHandle,
  onProgress?: (progress: BackupProgress) => void,
): Promise<BackupResult> {
  return waitWatching<BackupResult, BackupProgress>(handle, progressQuery, onProgress);
}

/** A run's result, with a query polled meanwhile for whoever watches; failures become BackupErrors. */
export async function waitWatching<R, Q>(
  handle: WorkflowHandle,
  query: QueryDefinition<Q>,
  onChange?: (value: Q) => void,
): Promise<R> {
  const poll = onChange ? watchQuery(handle, query, onChange) : undefined;
  try {
    return (await handle.result()) as R;
  } catch (error) {
    throw toBackupError(error);
  } finally {
    poll?.stop();
  }
}

/** Each poll is a query the worker answers while it works: often enough for a person, no more. */
const PROGRESS_POLL_MS = 2_000;

/** Asks a query every few seconds and reports each answer that differs from the last. */
export function watchQuery<T>(
  handle: WorkflowHandle,
  query: QueryDefinition<T>,
  onChange: (value: T) => void,
) {
  let last = '';
  let stopped = false;
  const timer = setInterval(() => {
    handle.query(query).then(
      (value) => {
        // An answer that comes after stop() would print progress after the run's result or error.
        if (stopped) return;
        const key = JSON.stringify(value);
        if (key !== last) onChange(value);
        last = key;
      },
      () => undefined,
    );
  }, PROGRESS_POLL_MS);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** The root ApplicationFailure of a failed workflow, as our typed error. */
export function toBackupError(error: unknown): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  let cause: unknown = error.cause;
  while (
    cause instanceof Error &&
    !(cause instanceof ApplicationFailure && isErrorKind(cause.type)) &&
    cause.cause
  ) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure && isErrorKind(cause.type)) {
    const hint = typeof cause.details?.[0] === 'string' ? cause.details[0] : undefined;
    return new BackupError(cause.type, cause.message, { hint });
  }
  return new BackupError('General', (cause as Error | undefined)?.message ?? error.message);
}

/** Starts a retention sweep of a database's backups (what `backupctl prune` runs). */
export async function startRetention(
  client: Client,
  options: { database: string; taskQueue?: string } & RetentionRequest,
): Promise<WorkflowHandle> {
  return client.workflow.start(RETENTION_WORKFLOW, {
    args: [{ database: options.database, ...(options.asOf ? { asOf: options.asOf } : {}) }],
    taskQueue: options.taskQueue ?? 'durable-backup',
    workflowId: [
      'retention',
      safeIdPart(options.database),
      new Date().toISOString().replace(/[-:.]/g, ''),
    ].join('-'),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: options.database }]),
    staticSummary: `Retention sweep of ${options.database}`,
  });
}

export async function waitForRetention(handle: WorkflowHandle): Promise<RetentionResult> {
  try {
    return (await handle.result()) as RetentionResult;
  } catch (error) {
    throw toBackupError(error);
  }
}
