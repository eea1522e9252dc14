import {
  condition,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  ClusterOutcome,
  PitrRestoreActivities,
  PitrRestoreRequest,
  RecoveredCopy,
} from '../activities/pitr-restore.js';
import type { RestoreState, RestoreStatus } from '../src/core/restore/status.js';
import { hostActivityOptions, restoreQueueOptions, restoreStatusQuery } from '../src/temporal/names.js';
import { handleApprovals } from './approvals.js';
import { describeFailure, failedWith, kindedFailure } from './failure.js';
import { reportedRun } from './report.js';
import { phase } from './restore.js';

// Restore to a moment (docs/pitr.md): resolve on the restore queue, plan on the host (pgbackrest
// info, the target as it is), the same approval gate as every restore, then one activity that
// recovers a scratch server to the moment, copies out of it and removes it.

export interface PitrRestoreWorkflowInput extends PitrRestoreRequest {
  taskQueue: string;
}

export interface PitrRestoreResult {
  status: RestoreStatus;
  /** Every phase but the wait for a human. */
  rtoMs: number;
  approvalWaitMs: number;
  copied?: RecoveredCopy;
  cluster?: ClusterOutcome;
}

export async function pitrRestoreWorkflow(input: PitrRestoreWorkflowInput): Promise<PitrRestoreResult> {
  return reportedRun(
    'restore',
    input.database,
    () => runPitrRestore(input),
    (result) => ({ rtoMs: result.rtoMs }),
  );
}

async function runPitrRestore(input: PitrRestoreWorkflowInput): Promise<PitrRestoreResult> {
  const status: RestoreStatus = { state: 'resolving', phases: [], refused: [], targetTouched: false };
  setHandler(restoreStatusQuery, () => status);
  const { taskQueue, ...request } = input;
  const approvals = handleApprovals(status, taskQueue);
  const resolver = proxyActivities<PitrRestoreActivities>(restoreQueueOptions(taskQueue));
  try {
    const resolved = await phase(status, 'resolving', 'resolve', () =>
      resolver.resolvePitrRestore({ ...request, workflowId: workflowInfo().workflowId }),
    );
    const host = proxyActivities<PitrRestoreActivities>(
      hostActivityOptions(resolved.hostTaskQueue, resolved.retryAttempts),
    );
    const { plan, digest } = await phase(
      status,
      'planning',
      'plan',
      () => host.planPitrRestore(request, new Date().toISOString()),
      ({ plan: p }) =>
        `${p.scope} to ${p.to ?? 'the end of the archive'} from ${p.base.type} backup ${p.base.label}, into "${p.target.database}"`,
    );
    status.pitrPlan = plan;
    status.planDigest = digest;
    if (request.dryRun) return result(status, 'dry-run-completed');

    if (request.force) {
      status.decision = { approved: true, by: '--force', at: new Date().toISOString() };
    } else {
      approvals.open(resolved, digest);
      const decided = await phase(
        status,
        'awaiting-approval',
        'approval',
        () => condition(() => status.decision !== undefined, resolved.approvalTimeoutSeconds * 1000),
        () =>
          status.decision
            ? `${status.decision.approved ? 'approved' : 'rejected'} by ${status.decision.by}`
            : 'timed out',
      );
      if (!decided)
        throw kindedFailure('NotApproved', 'nobody approved the restore in time; the target was not touched');
      if (!status.decision!.approved) {
        throw kindedFailure(
          'NotApproved',
          `rejected by ${status.decision!.by}: ${status.decision!.reason}; the target was not touched`,
        );
      }
    }
    status.targetTouched = true;
    if (plan.scope === 'cluster') {
      const cluster = await phase(
        status,
        'restoring',
        'recover',
        () => host.recoverCluster(resolved, plan),
        (c) =>
          `pgbackrest restore ${(c.restoreMs / 1000).toFixed(1)} s; ${c.started ? `started, recovered and promoted in ${(c.recoveryMs / 1000).toFixed(1)} s` : 'not started: its postgresql.conf is elsewhere, start it with the service manager'}`,
      );
      return { ...result(status, 'completed'), cluster };
    }
    const copied = await phase(
      status,
      'restoring',
      'recover',
      () => host.recoverAndCopy(resolved, plan, request),
      (c) =>
        `scratch restore ${(c.restoreMs / 1000).toFixed(1)} s, recovery to ${c.recoveredTo ?? '(no transaction)'} ${(c.recoveryMs / 1000).toFixed(1)} s, copy ${(c.copyMs / 1000).toFixed(1)} s; ${c.tables.length} tables, row counts match`,
    );
    return { ...result(status, 'completed'), copied };
  } catch (error) {
    status.error = describeFailure(error);
    status.state = failedWith(error, 'NotApproved') ? 'rejected' : 'failed';
    setCurrentDetails(`**${status.state}**`);
    throw error;
  }
}

function result(status: RestoreStatus, state: RestoreState): PitrRestoreResult {
  status.state = state;
  setCurrentDetails(`**${state}**`);
  const approvalWaitMs = status.phases
    .filter((p) => p.phase === 'approval')
    .reduce((s, p) => s + p.durationMs, 0);
  const totalMs = status.phases.reduce((s, p) => s + p.durationMs, 0);
  return { status, rtoMs: totalMs - approvalWaitMs, approvalWaitMs };
}
