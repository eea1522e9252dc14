import { TypedSearchAttributes } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { DrillRequest, DrillResult } from '../../workflows/drill.js';
import type { PitrDrillRequest } from '../../workflows/pitr-drill.js';
import type { RereadRequest, RereadResult } from '../../workflows/reread.js';
import {
  DATABASE_ATTRIBUTE,
  DEFAULT_TASK_QUEUE,
  DRILL_WORKFLOW,
  PITR_DRILL_WORKFLOW,
  REREAD_WORKFLOW,
} from '../temporal/names.js';
import { resultOf, workflowId } from './runs.js';

export type { DrillRequest, DrillResult, RereadRequest, RereadResult };

export interface StartDrillOptions {
  /** The configuration's database (DB_NAME). */
  database: string;
  /** A PITR drill's moment, this many seconds ago (300 by default). */
  lagSeconds?: number;
  /** The shared task queue (TEMPORAL_TASK_QUEUE); the drill's steps run on its restore queue. */
  taskQueue?: string;
  workflowId?: string;
}

/** Starts a DR drill now: the newest backup restored into a scratch database, then dropped. */
export function startDrill(client: Client, options: StartDrillOptions): Promise<WorkflowHandle> {
  return start(client, DRILL_WORKFLOW, 'drill', options, `DR drill of ${options.database}`);
}

/** Starts a PITR drill now: a scratch server recovered to a moment, its RPO and RTO reported. */
export function startPitrDrill(client: Client, options: StartDrillOptions): Promise<WorkflowHandle> {
  return start(client, PITR_DRILL_WORKFLOW, 'pitr-drill', options, `PITR drill of ${options.database}`);
}

/** Starts a re-read of every copy of every backup (no restore). */
export function startReread(client: Client, options: StartDrillOptions): Promise<WorkflowHandle> {
  return start(client, REREAD_WORKFLOW, 'reread', options, `Re-read of the backups of ${options.database}`);
}

/** The drill's report; a failed drill (its report written too) becomes a BackupError of the restore's kind. */
export function waitForDrill(handle: WorkflowHandle): Promise<DrillResult> {
  return resultOf<DrillResult>(handle);
}

/** The re-read's result; one unreadable copy or more becomes a BackupError naming each. */
export function waitForReread(handle: WorkflowHandle): Promise<RereadResult> {
  return resultOf<RereadResult>(handle);
}

function start(
  client: Client,
  workflowType: string,
  kind: string,
  options: StartDrillOptions,
  summary: string,
): Promise<WorkflowHandle> {
  const request: DrillRequest & RereadRequest & PitrDrillRequest = {
    database: options.database,
    ...(options.lagSeconds === undefined ? {} : { lagSeconds: options.lagSeconds }),
  };
  return client.workflow.start(workflowType, {
    args: [request],
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    workflowId: options.workflowId ?? workflowId(kind, options.database),
    typedSearchAttributes: new TypedSearchAttributes([{ key: DATABASE_ATTRIBUTE, value: options.database }]),
    staticSummary: summary,
  });
}
