import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { BackupRequest, BackupResult } from '../../workflows/backup.js';
import type { RetentionRequest, RetentionResult } from '../../workflows/retention.js';
import type { TemporalConfig } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import { isValidLabel } from '../core/naming.js';
import type { StepProgress } from '../core/progress.js';
import { temporalConnectionOptions, temporalUnreachable } from '../temporal/connection.js';
import {
  BACKUP_WORKFLOW,
  DATABASE_ATTRIBUTE,
  DEFAULT_TASK_QUEUE,
  LABEL_ATTRIBUTE,
  RETENTION_WORKFLOW,
  progressQuery,
  type BackupProgress,
} from '../temporal/names.js';
import { resultOf, safeIdPart, waitWatching, workflowId } from './runs.js';

export type { BackupProgress, BackupRequest, BackupResult, RetentionRequest, RetentionResult, StepProgress };
export { BackupError, exitCodeOf } from '../core/errors.js';
export { loadConfig, type Config } from '../config/index.js';
export { runningSteps, safeIdPart, toBackupError, waitWatching, watchQuery, workflowId } from './runs.js';
export {
  approveRestore,
  rejectRestore,
  restoreStatement,
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
export { startPitrRestore, type PitrRestoreRequest, type PitrRestoreResult } from './pitr-restore.js';
export {
  startDrill,
  startPitrDrill,
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
    throw temporalUnreachable(config.address, error);
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
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: options.workflowId ?? backupWorkflowId(options.database, options.label),
    typedSearchAttributes: new TypedSearchAttributes([
      { key: DATABASE_ATTRIBUTE, value: options.database },
      ...(options.label ? [{ key: LABEL_ATTRIBUTE, value: options.label }] : []),
    ]),
    staticSummary: `Backup of ${options.database}${options.label ? ` (${options.label})` : ''}`,
  });
}

export function backupWorkflowId(database: string, label?: string, now = new Date()): string {
  return workflowId('backup', database, label, now);
}

/** How long the last progress query may take once the backup has ended. */
const LAST_QUERY_MS = 5_000;

/**
 * Waits for a backup; onProgress sees each change of step, the last one included, and onRunning
 * the bytes, rate and time of the step that runs (StepProgress). A failure becomes a BackupError
 * whose kind (hence exit code) is the failing activity's.
 */
export async function waitForBackup(
  handle: WorkflowHandle,
  onProgress?: (progress: BackupProgress) => void,
  onRunning?: (steps: StepProgress[]) => void,
): Promise<BackupResult> {
  const result = await waitWatching<BackupResult, BackupProgress>(
    handle,
    progressQuery,
    onProgress,
    onRunning,
  );
  // The last steps often end between two polls: one more query shows them (a worker answers it).
  if (onProgress) {
    const last = await Promise.race([
      handle.query(progressQuery).catch(() => undefined),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), LAST_QUERY_MS).unref()),
    ]);
    if (last) onProgress(last);
  }
  return result;
}

/** Starts a retention sweep of a database's backups (what `backupctl prune` runs). */
export async function startRetention(
  client: Client,
  options: { database: string; taskQueue?: string } & RetentionRequest,
): Promise<WorkflowHandle> {
  return client.workflow.start(RETENTION_WORKFLOW, {
    args: [{ database: options.database, ...(options.asOf ? { asOf: options.asOf } : {}) }],
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: [
      'retention',
      safeIdPart(options.database),
      new Date().toISOString().replace(/[-:.]/g, ''),
    ].join('-'),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: options.database }]),
    staticSummary: `Retention sweep of ${options.database}`,
  });
}

export function waitForRetention(handle: WorkflowHandle): Promise<RetentionResult> {
  return resultOf<RetentionResult>(handle);
}
export {
  pitrBackupWorkflowId,
  startPitrBackup,
  waitForPitrBackup,
  type PitrBackupResult,
  type StartPitrBackupOptions,
} from './pitr.js';
