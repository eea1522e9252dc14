import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  RestoreActivities,
  RestoreInput,
  ResolvedRestore,
  TargetOutcome,
} from '../activities/restore.js';
import { isEncrypted } from '../src/core/manifest.js';
import type { RestorePlan } from '../src/core/restore/plan.js';
import type { RestoreRequest } from '../src/core/restore/request.js';
import type { RestorePhase, RestoreState, RestoreStatus } from '../src/core/restore/status.js';
import { hostActivityOptions, restoreStatusQuery, restoreQueueOptions } from '../src/temporal/names.js';
import { handleApprovals, type Approvals } from './approvals.js';
import { describeFailure, failedWith, kindedFailure } from './failure.js';
import { reportedRun } from './report.js';

export interface RestoreResult {
  status: RestoreStatus;
  /** The measured RTO: every phase but the wait for a human. */
  rtoMs: number;
  approvalWaitMs: number;
  logPath: string;
}

/** Waiting for a human is the only long sleep; thawing polls on its own timer. */
export interface RestoreWorkflowInput extends RestoreRequest {
  /** The shared queue the client started on; the restore queue is derived from it. */
  taskQueue: string;
}

/**
 * The restore runbook: find the backup, thaw it if archived, fetch, check, decrypt, validate, plan;
 * then, unless a dry run, wait for a human's approval (or --force), close the target to others,
 * pg_restore, and verify against the row counts the backup recorded. Nothing touches the target
 * before the backup is fully fetched, decrypted, checked and approved.
 */
export async function restoreWorkflow(input: RestoreWorkflowInput): Promise<RestoreResult> {
  return reportedRun(
    'restore',
    input.database,
    () => runRestore(input),
    (result) => ({ rtoMs: result.rtoMs }),
  );
}

async function runRestore(input: RestoreWorkflowInput): Promise<RestoreResult> {
  const status: RestoreStatus = { state: 'resolving', phases: [], refused: [], targetTouched: false };
  setHandler(restoreStatusQuery, () => status);
  const { taskQueue, ...request } = input;
  const approvals = handleApprovals(status, taskQueue);

  const resolver = proxyActivities<RestoreActivities>(restoreQueueOptions(taskQueue));
  const resolved = await phase(status, 'resolving', 'resolve', () =>
    resolver.resolveRestore({ ...request, workflowId: workflowInfo().workflowId }),
  );
  const host = proxyActivities<RestoreActivities>(
    hostActivityOptions(resolved.hostTaskQueue, resolved.retryAttempts),
  );
  // The heavy steps take one of the host's WORKER_MAX_CONCURRENT_RESTORES slots; runs resolved
  // before that queue existed run them on the host queue, one activity per step, as they began.
  const bounded = resolved.restoreTaskQueue
    ? proxyActivities<RestoreActivities>(
        hostActivityOptions(resolved.restoreTaskQueue, resolved.retryAttempts),
      )
    : undefined;

  let connectionLimit: number | undefined;
  const cleanup: Cleanup = { host, resolved };
  try {
    await thaw(status, host, resolved);
    const { archivePath } = await fetchCheckDecrypt(status, bounded ?? host, resolved);
    await phase(
      status,
      'validating',
      'validate',
      () => host.validateArchive(resolved, archivePath),
      (v) => `${v.tocEntries} TOC entries`,
    );
    const { digest, ...plan } = await phase(
      status,
      'planning',
      'plan',
      () => host.planRestore(resolved, request, new Date().toISOString()),
      (p) =>
        `${p.scope} restore of ${p.tables.length} tables into "${p.target.database}" on ${p.target.host}:${p.target.port}`,
    );
    status.plan = plan;
    status.planDigest = digest;
    if (request.dryRun) return await finish(status, 'dry-run-completed', cleanup);

    await awaitApproval(status, approvals, resolved, request.force);
    if (bounded) {
      cleanup.targetStepStarted = true;
      await restoreInOneSlot(status, bounded, resolved, plan, { archivePath, request });
      return await finish(status, 'completed', cleanup);
    }
    const { connectionLimit: limit } = await phase(
      status,
      'restoring',
      'prepare',
      () => host.prepareTarget(resolved, plan),
      () => `${plan.target.create ? 'created; ' : ''}new connections refused, open ones ended`,
    );
    connectionLimit = limit;
    status.targetTouched = true;
    await phase(
      status,
      'restoring',
      'restore',
      () => host.restoreArchive(resolved, plan, { archivePath, request }),
      () => `pg_restore --jobs=${plan.jobs}`,
    );
    await phase(
      status,
      'verifying',
      'verify',
      () => host.verifyRestore(resolved, plan),
      (v) => `row counts of ${v.tablesChecked} tables match${v.sqlChecks ? '; SQL checks passed' : ''}`,
    );
    return await finish(status, 'completed', { ...cleanup, connectionLimit });
  } catch (error) {
    status.error = describeFailure(error);
    const state: RestoreState = failedWith(error, 'NotApproved') ? 'rejected' : 'failed';
    await finish(status, state, { ...cleanup, connectionLimit }).catch((finishError: unknown) =>
      log.error('cleanup after a failed restore failed', { error: describeFailure(finishError) }),
    );
    throw error;
  }
}

type Activities = ReturnType<typeof proxyActivities<RestoreActivities>>;

/** Runs one phase: sets the state, times it, and records a line for the status and the log. */
export async function phase<T>(
  status: RestoreStatus,
  state: RestoreState,
  name: RestorePhase,
  work: () => Promise<T>,
  describe: (result: T) => string = () => '',
): Promise<T> {
  status.state = state;
  setCurrentDetails(`**${state}**`);
  const started = Date.now();
  const result = await work();
  status.phases.push({ phase: name, durationMs: Date.now() - started, detail: describe(result) });
  return result;
}

/**
 * Fetch, check and decrypt run one after the other in one activity (a retry resumes the download
 * it kept); each still gets its phase, timed so that the phases add up to the wall time.
 */
async function fetchCheckDecrypt(status: RestoreStatus, host: Activities, resolved: ResolvedRestore) {
  status.state = 'fetching';
  setCurrentDetails('**fetching, checking and decrypting**');
  const started = Date.now();
  const opened = await host.fetchCheckDecrypt.executeWithOptions(
    { summary: `fetch ${resolved.backup.where} | check | decrypt` },
    [resolved],
  );
  const { fetch, check, decrypt } = opened;
  const encrypted = isEncrypted(resolved.backup.manifest);
  status.phases.push(
    {
      phase: 'fetch',
      // Scheduling and the activity's start count here, so the phases add up to the step's time.
      durationMs: Date.now() - started - check.durationMs - decrypt.durationMs,
      detail: fetch.downloaded
        ? `${fetch.bytes} bytes from ${resolved.backup.where}${fetch.resumedFrom ? ` (${fetch.resumedFrom} kept from an earlier attempt)` : ''}`
        : `read in place: ${resolved.backup.where}`,
    },
    {
      phase: 'check',
      durationMs: check.durationMs,
      detail: `sha256 ${check.sha256} (computed while fetching)`,
    },
    {
      phase: 'decrypt',
      durationMs: decrypt.durationMs,
      detail: encrypted ? `${decrypt.bytes} bytes of archive` : 'not encrypted',
    },
  );
  return opened;
}

/** Archived copies (GLACIER, DEEP_ARCHIVE): ask for the restoration, then wait on a durable timer. */
async function thaw(status: RestoreStatus, host: Activities, resolved: ResolvedRestore): Promise<void> {
  await phase(
    status,
    'thawing',
    'thaw',
    async () => {
      let polls = 0;
      for (;;) {
        const { state, storageClass } = await host.thawBackup(resolved);
        if (state === 'readable') return { storageClass, polls };
        polls += 1;
        await sleep(resolved.thawPollSeconds * 1000);
      }
    },
    ({ storageClass, polls }) =>
      `${storageClass ?? 'STANDARD'}${polls > 0 ? `, restored from the archive after ${polls} checks` : ''}`,
  );
}

async function awaitApproval(
  status: RestoreStatus,
  approvals: Approvals,
  resolved: ResolvedRestore,
  force?: boolean,
): Promise<void> {
  if (force) {
    status.decision = { approved: true, by: '--force', at: new Date().toISOString() };
    return;
  }
  approvals.open(resolved, status.planDigest);
  const decided = await phase(
    status,
    'awaiting-approval',
    'approval',
    () => condition(() => status.decision !== undefined, resolved.approvalTimeoutSeconds * 1000),
    () =>
      status.decision
        ? `${status.decision.approved ? 'approved' : 'rejected'} by ${status.decision.by}`
        : `timed out${status.approvals?.length ? ` (approved by ${status.approvals.map((a) => a.by).join(', ')} of ${status.approvalsNeeded} needed)` : ''}`,
  );
  if (!decided) {
    const within = formatSeconds(resolved.approvalTimeoutSeconds);
    const so = status.approvals ?? [];
    throw kindedFailure(
      'NotApproved',
      so.length > 0
        ? `only ${so.length} of ${status.approvalsNeeded} approvers (${so.map((a) => a.by).join(', ')}) approved the restore within ${within}; the target was not touched`
        : `nobody approved the restore within ${within}; the target was not touched`,
    );
  }
  if (!status.decision!.approved) {
    const { by, reason } = status.decision!;
    throw kindedFailure('NotApproved', `rejected by ${by}: ${reason}; the target was not touched`);
  }
}

/**
 * Closes, restores, verifies and reopens the target in one activity on the restore queue: the slot
 * is held from close to reopen. Its three phases are recorded as the separate steps were; the wait
 * for a slot counts in prepare.
 */
async function restoreInOneSlot(
  status: RestoreStatus,
  bounded: Activities,
  resolved: ResolvedRestore,
  plan: RestorePlan,
  input: RestoreInput,
): Promise<void> {
  status.state = 'restoring';
  // From here pg_restore may change the target; a failure corrects it (see finish).
  status.targetTouched = true;
  setCurrentDetails('**restoring**');
  const started = Date.now();
  let done: Partial<TargetOutcome>;
  try {
    done = await bounded.restoreIntoTarget.executeWithOptions(
      { summary: `close "${plan.target.database}", pg_restore --jobs=${plan.jobs}, verify, reopen` },
      [resolved, plan, input],
    );
  } catch (error) {
    // The steps it finished before it failed still get their phases (the failure carries them).
    const cause = error instanceof ActivityFailure ? error.cause : undefined;
    const finished = cause instanceof ApplicationFailure ? cause.details?.[1] : undefined;
    status.phases.push(...targetPhases(plan, (finished ?? {}) as Partial<TargetOutcome>));
    throw error;
  }
  const phases = targetPhases(plan, done);
  // The wait for a slot counts in prepare, so that the phases add up to the wall time.
  phases[0]!.durationMs = Date.now() - started - phases[1]!.durationMs - phases[2]!.durationMs;
  status.phases.push(...phases);
}

/** The phases of the steps restoreIntoTarget finished, in order. */
function targetPhases(plan: RestorePlan, done: Partial<TargetOutcome>): RestoreStatus['phases'] {
  const { prepare, restore, verify } = done;
  return [
    ...(prepare
      ? [
          {
            phase: 'prepare' as const,
            durationMs: prepare.durationMs,
            detail: `${plan.target.create ? 'created; ' : ''}new connections refused, open ones ended`,
          },
        ]
      : []),
    ...(restore
      ? [
          {
            phase: 'restore' as const,
            durationMs: restore.durationMs,
            detail: `pg_restore --jobs=${plan.jobs}`,
          },
        ]
      : []),
    ...(verify
      ? [
          {
            phase: 'verify' as const,
            durationMs: verify.durationMs,
            detail: `row counts of ${verify.tablesChecked} tables match${verify.sqlChecks ? '; SQL checks passed' : ''}; reopened`,
          },
        ]
      : []),
  ];
}

/** What finish needs to put the target back. */
interface Cleanup {
  host: Activities;
  resolved: ResolvedRestore;
  /** The limit to put back, from a separate prepare step (runs resolved before the restore queue). */
  connectionLimit?: number;
  /** restoreIntoTarget was started: after a failure, the limit it saved is put back. */
  targetStepStarted?: boolean;
}

/** Puts the target's connection limit back, writes the log and removes the plaintext: always. */
async function finish(status: RestoreStatus, state: RestoreState, cleanup: Cleanup): Promise<RestoreResult> {
  const { host, resolved, connectionLimit } = cleanup;
  status.state = state;
  setCurrentDetails(`**${state}**`);
  return CancellationScope.nonCancellable(async () => {
    if (connectionLimit !== undefined && status.plan)
      await host.reopenTarget(resolved, status.plan, connectionLimit);
    if (cleanup.targetStepStarted && state !== 'completed' && status.plan) {
      const { reopened } = await host.reopenAfterFailure(resolved, status.plan);
      status.targetTouched = reopened;
    }
    const { logPath } = await host.finishRestore(resolved, status, new Date().toISOString());
    const approvalWaitMs = status.phases
      .filter((p) => p.phase === 'approval')
      .reduce((sum, p) => sum + p.durationMs, 0);
    const totalMs = status.phases.reduce((sum, p) => sum + p.durationMs, 0);
    return { status, rtoMs: totalMs - approvalWaitMs, approvalWaitMs, logPath };
  });
}

function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}
