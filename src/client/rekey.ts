import { TypedSearchAttributes } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { RekeyRequest, RekeyResult } from '../../workflows/rekey.js';
import { DATABASE_ATTRIBUTE, DEFAULT_TASK_QUEUE, REKEY_WORKFLOW } from '../temporal/names.js';
import { resultOf, workflowId } from './runs.js';

export type { RekeyRequest, RekeyResult };

export interface StartRekeyOptions {
  /** The configuration's database (DB_NAME). */
  database: string;
  /** The new recipients: armored public keys, one or several blocks. */
  publicKeys: string;
  /** The shared task queue (TEMPORAL_TASK_QUEUE); the work runs on its restore queue's worker. */
  taskQueue?: string;
  workflowId?: string;
}

/**
 * Starts a key rotation: every retained encrypted backup re-encrypted to the new recipients. Keys that
 * are not public keys able to encrypt are refused here (a Configuration BackupError), before anything
 * starts.
 */
export async function startRekey(client: Client, options: StartRekeyOptions): Promise<WorkflowHandle> {
  // Loaded here: OpenPGP's modules would slow down every program that imports the client.
  const { readNewRecipients } = await import('../rekey/recipients.js');
  const { fingerprints } = await readNewRecipients(options.publicKeys, 'new recipients');
  const request: RekeyRequest = { database: options.database, publicKeys: options.publicKeys };
  return client.workflow.start(REKEY_WORKFLOW, {
    args: [request],
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: options.workflowId ?? workflowId('rekey', options.database),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: options.database }]),
    staticSummary: `Key rotation of the backups of ${options.database} to ${fingerprints.join(', ')}`,
  });
}

/** The rotation's result; a backup that could not be re-encrypted becomes a BackupError naming it. */
export function waitForRekey(handle: WorkflowHandle): Promise<RekeyResult> {
  return resultOf<RekeyResult>(handle);
}
