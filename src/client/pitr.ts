import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { PitrBackupRequest, PitrBackupResult } from '../../workflows/pitr-backup.js';
import { BackupError } from '../core/errors.js';
import { isPhysicalBackupType, type PhysicalBackupType } from '../core/pitr-backup.js';
import {
  DATABASE_ATTRIBUTE,
  DEFAULT_TASK_QUEUE,
  KIND_ATTRIBUTE,
  PITR_BACKUP_WORKFLOW,
} from '../temporal/names.js';
import { resultOf, safeIdPart } from './runs.js';

export type { PitrBackupRequest, PitrBackupResult };

export interface StartPitrBackupOptions {
  /** The configuration's database (DB_NAME). */
  database: string;
  /** PITR_STANZA: one running physical backup per stanza (the workflow id). */
  stanza: string;
  type?: PhysicalBackupType;
  taskQueue?: string;
}

/** One id per stanza while a backup runs: a second start is refused by Temporal, before pgBackRest. */
export function pitrBackupWorkflowId(stanza: string): string {
  return `pitr-backup-${safeIdPart(stanza)}`;
}

/**
 * Starts a physical backup: `await waitForPitrBackup(await startPitrBackup(client, { database: 'app',
 * stanza: 'app', type: 'diff' }))`. Refused (AlreadyRunning, exit 4) while one of the stanza runs.
 */
export async function startPitrBackup(
  client: Client,
  options: StartPitrBackupOptions,
): Promise<WorkflowHandle> {
  const type = options.type ?? 'full';
  if (!isPhysicalBackupType(type))
    throw new BackupError('Configuration', `--type: "${String(type)}" must be full, diff or incr`);
  const request: PitrBackupRequest = { database: options.database, type };
  const workflowId = pitrBackupWorkflowId(options.stanza);
  try {
    return await client.workflow.start(PITR_BACKUP_WORKFLOW, {
      args: [request],
      taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
      workflowId,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: DATABASE_ATTRIBUTE, value: options.database },
        { key: KIND_ATTRIBUTE, value: `pitr-${type}` },
      ]),
      staticSummary: `Physical ${type} backup of ${options.database} (stanza ${options.stanza})`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new BackupError(
        'AlreadyRunning',
        `stanza ${options.stanza}: a physical backup of it is running (${workflowId}); this one is refused`,
        { hint: `wait for it: temporal workflow show --workflow-id ${workflowId}` },
      );
    }
    throw error;
  }
}

/** The backup's label, type, sizes, times and WAL range; a failure becomes a BackupError of its kind. */
export function waitForPitrBackup(handle: WorkflowHandle): Promise<PitrBackupResult> {
  return resultOf<PitrBackupResult>(handle);
}
