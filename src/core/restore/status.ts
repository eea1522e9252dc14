import type { Decision, RefusedSignal } from './approval.js';
import type { PitrRestorePlan } from '../pitr-restore.js';
import type { RestorePlan } from './plan.js';

// Where a restore is, as its workflow publishes it (the status query) and its log records it.

export const RESTORE_STATES = [
  'resolving',
  'thawing',
  /** Fetching, checking and decrypting: one activity, one step after the other. */
  'fetching',
  'validating',
  'planning',
  'awaiting-approval',
  'restoring',
  'verifying',
  'completed',
  'dry-run-completed',
  'rejected',
  'failed',
] as const;
export type RestoreState = (typeof RESTORE_STATES)[number];

/** The phases whose times make the measured RTO (the wait for a human is reported apart). */
export const RESTORE_PHASES = [
  'resolve',
  'thaw',
  'fetch',
  'check',
  'decrypt',
  'validate',
  'plan',
  'approval',
  'prepare',
  'restore',
  'verify',
] as const;
/** A restore to a moment's (pitrRestoreWorkflow) own: pgBackRest, recovery and the copy out, in one step. */
export const PITR_RESTORE_PHASES = ['recover'] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number] | (typeof PITR_RESTORE_PHASES)[number];

export interface RestoreStatus {
  state: RestoreState;
  plan?: RestorePlan;
  /** A restore to a moment's plan (backupctl restore --to), instead of plan. */
  pitrPlan?: PitrRestorePlan;
  phases: { phase: RestorePhase; durationMs: number; detail: string }[];
  decision?: Decision;
  /** The approvals accepted so far (four-eyes: RESTORE_MIN_APPROVALS distinct approvers); absent in old runs. */
  approvals?: Decision[];
  /** How many distinct approvers must approve (RESTORE_MIN_APPROVALS), once the gate is open. */
  approvalsNeeded?: number;
  /** Whether approvals must be signed by a key in the worker's RESTORE_APPROVER_KEYS. */
  signedApprovals?: boolean;
  /** SHA-256 (hex) of the plan's canonical JSON: what a signed approval names. */
  planDigest?: string;
  refused: RefusedSignal[];
  /** True from the moment pg_restore may have changed the target: after a failure, it may be partial. */
  targetTouched: boolean;
  error?: string;
}
