// Names shared by workflows, the worker and the client: one definition each.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  ChildWorkflowFailure,
  defineQuery,
  defineSignal,
  type ActivityOptions,
} from '@temporalio/workflow';
import { restoreTaskQueueName } from '../src/core/plan.js';
import type { ApprovalInput } from '../src/core/restore/approval.js';
import type { RestoreStatus } from '../src/core/restore/status.js';

export const BACKUP_WORKFLOW = 'backupWorkflow';
export const RETENTION_WORKFLOW = 'retentionWorkflow';
export const RESTORE_WORKFLOW = 'restoreWorkflow';
export const DRILL_WORKFLOW = 'drillWorkflow';
export const REREAD_WORKFLOW = 'rereadWorkflow';
export const REKEY_WORKFLOW = 'rekeyWorkflow';

export const DATABASE_ATTRIBUTE = defineSearchAttributeKey('BackupDatabase', SearchAttributeType.KEYWORD);
export const KIND_ATTRIBUTE = defineSearchAttributeKey('BackupKind', SearchAttributeType.KEYWORD);
export const LABEL_ATTRIBUTE = defineSearchAttributeKey('BackupLabel', SearchAttributeType.KEYWORD);

export const BACKUP_STEPS = ['plan', 'dump', 'verify', 'encrypt', 'upload', 'manifest'] as const;
export type BackupStep = (typeof BACKUP_STEPS)[number];

export interface BackupProgress {
  step: BackupStep | 'done' | 'failed' | 'cleanup';
  completed: { step: BackupStep; durationMs?: number; detail: string }[];
  error?: string;
}

export const progressQuery = defineQuery<BackupProgress>('progress');

/** A restore's state, plan, decision and phases, at any time (backupctl status). */
export const restoreStatusQuery = defineQuery<RestoreStatus>('status');
/** Sent by backupctl approve/reject, the client API, `temporal workflow signal` or the UI's form. */
export const approveSignal = defineSignal<[ApprovalInput]>('approve');
export const rejectSignal = defineSignal<[ApprovalInput]>('reject');

/**
 * Options of the activities that run on one host's queue (they share local files). Long ones
 * heartbeat every 2-3 s, so a dead worker is noticed within 20 s and a replacement takes over.
 */
export function hostActivityOptions(taskQueue: string, maximumAttempts: number): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '24 hours',
    // A host that never comes back fails the run instead of hanging it.
    scheduleToStartTimeout: '1 hour',
    heartbeatTimeout: '20 seconds',
    // A cancelled step must have stopped before the cleanup runs, or the two would race.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      // 5 s doubling: the default 5 attempts span 75 s (5+10+20+40), so S3 or PostgreSQL away for a minute is waited out.
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts,
    },
  };
}

/** The message a person should read: an activity's own failure rather than Temporal's wrappers. */
export function describeFailure(error: unknown): string {
  if (error instanceof ChildWorkflowFailure && error.cause) return describeFailure(error.cause);
  if (error instanceof ActivityFailure && error.cause) return error.cause.message;
  if (error instanceof ApplicationFailure || error instanceof Error) return error.message;
  return String(error);
}

/**
 * Options of the first step of a restore, drill or re-read: it runs on the restore queue, which only
 * workers that may restore (they hold the private key) poll, and picks the host for the rest.
 */
export function restoreQueueOptions(taskQueue: string): ActivityOptions {
  return {
    taskQueue: restoreTaskQueueName(taskQueue),
    // No worker allowed to restore for an hour: fail clearly rather than wait unseen.
    scheduleToStartTimeout: '1 hour',
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 5 },
  };
}
