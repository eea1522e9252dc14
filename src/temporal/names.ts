// Temporal's names, one definition each, shared by workflows, activities, the worker and the client:
// workflow types, search attributes, queries and signals, task queues and activity options. Workflows
// import it, so it stays deterministic: @temporalio/workflow, @temporalio/common and type imports of
// src/core only (the eslint config enforces it).
import {
  ActivityCancellationType,
  defineSearchAttributeKey,
  SearchAttributeType,
  type ActivityOptions,
} from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalAnswer, ApprovalInput, ApprovalRequest } from '../core/restore/approval.js';
import type { RestoreStatus } from '../core/restore/status.js';

// Workflow types: the names runs are started, scheduled and replayed by (test/histories): never rename.
export const BACKUP_WORKFLOW = 'backupWorkflow';
export const RETENTION_WORKFLOW = 'retentionWorkflow';
export const RESTORE_WORKFLOW = 'restoreWorkflow';
export const DRILL_WORKFLOW = 'drillWorkflow';
export const REREAD_WORKFLOW = 'rereadWorkflow';
export const REKEY_WORKFLOW = 'rekeyWorkflow';
// pitr-backup (issue 21)
export const PITR_BACKUP_WORKFLOW = 'pitrBackupWorkflow';
// pitr-restore (#21)
export const PITR_RESTORE_WORKFLOW = 'pitrRestoreWorkflow';
export const PITR_DRILL_WORKFLOW = 'pitrDrillWorkflow';

export const DATABASE_ATTRIBUTE = defineSearchAttributeKey('BackupDatabase', SearchAttributeType.KEYWORD);
export const KIND_ATTRIBUTE = defineSearchAttributeKey('BackupKind', SearchAttributeType.KEYWORD);
export const LABEL_ATTRIBUTE = defineSearchAttributeKey('BackupLabel', SearchAttributeType.KEYWORD);

// Queries, signals and updates.

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
 * Sent by backupctl approve/reject: the same answer as the signals, but the caller gets the
 * workflow's verdict (accepted, or refused and why) instead of a fire-and-forget.
 */
export const decideUpdate = defineUpdate<ApprovalAnswer, [ApprovalRequest]>('decide');

// Task queues.

/** The shared queue every worker polls, when TEMPORAL_TASK_QUEUE does not name another. */
export const DEFAULT_TASK_QUEUE = 'durable-backup';

/** The per-host queue name, as in Temporal's worker-specific task queues pattern. */
export function hostTaskQueueName(taskQueue: string, hostId: string): string {
  return `${taskQueue}@${hostId}`;
}

/**
 * This host's queue for the dumps of backups, polled with WORKER_MAX_CONCURRENT_BACKUPS slots. The
 * `/` cannot be in a WORKER_HOST_ID: no host's plain queue can have this name.
 */
export function hostBackupTaskQueueName(taskQueue: string, hostId: string): string {
  return `${hostTaskQueueName(taskQueue, hostId)}/backups`;
}

/**
 * This host's queue for the heavy steps of restores, drills and re-reads, polled with
 * WORKER_MAX_CONCURRENT_RESTORES slots apart from the backups': a wave of backups leaves room for a
 * restore. The step that closes a target restores, verifies and reopens it in one activity, so the
 * slot is held from close to reopen and no closed database waits for one.
 */
export function hostRestoreTaskQueueName(taskQueue: string, hostId: string): string {
  return `${hostTaskQueueName(taskQueue, hostId)}/restores`;
}

/** The queue of the workers that may restore (they hold the private key): RESTORE_ENABLED workers poll it. */
export function restoreTaskQueueName(taskQueue: string): string {
  return `${taskQueue}-restore`;
}

// Activity options, by the kind of step.

/** A short step on the workflow's own (shared) queue, such as planning a backup or finding a host. */
export function sharedQueueOptions(): ActivityOptions {
  return {
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 5 },
  };
}

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

/** The steps of a retention sweep, on the host that keeps the database's local copies. */
export function retentionHostOptions(taskQueue: string): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout: '10 minutes',
    // The steps heartbeat: a worker killed mid-sweep is noticed in 20 s, and another takes over.
    heartbeatTimeout: '20 seconds',
    scheduleToStartTimeout: '1 hour',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 10 },
  };
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

/**
 * The check of a signed approval (restore queue: the workers that restore hold RESTORE_APPROVER_KEYS):
 * short, since a person waits on backupctl approve meanwhile.
 */
export function approvalCheckOptions(taskQueue: string): ActivityOptions {
  return {
    taskQueue: restoreTaskQueueName(taskQueue),
    scheduleToStartTimeout: '1 minute',
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 3 },
  };
}

/**
 * A run's report (metrics, and the webhook on failure), on the shared queue the run started on: any
 * worker's metrics will do, and the run's host may be the one that failed.
 */
export function reportActivityOptions(sharedTaskQueue: string): ActivityOptions {
  return {
    taskQueue: sharedTaskQueue,
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 3 },
  };
}

// pitr-backup (issue 21)

/**
 * `pgbackrest backup` (or expire) on the database's host: as the backups' host steps (a day at most,
 * a heartbeat every 3 s, so a dead worker is noticed within 20 s), but three attempts, spaced more
 * widely: pgBackRest resumes a full backup it left, and the next schedule comes anyway.
 */
export function pitrHostOptions(taskQueue: string): ActivityOptions {
  const options = hostActivityOptions(taskQueue, 3);
  return {
    ...options,
    retry: { ...options.retry, initialInterval: '10 seconds', maximumInterval: '5 minutes' },
  };
}
