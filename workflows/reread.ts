import { ApplicationFailure, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { RereadActivities } from '../activities/reread.js';
import type { ErrorKind } from '../src/core/errors.js';
import type { RereadCopy } from '../src/drill/reread.js';
import { hostActivityOptions, restoreQueueOptions } from '../src/temporal/names.js';
import { describeFailure, failureKind, kindedFailure } from './failure.js';
import { reportedRun } from './report.js';

export interface RereadRequest {
  /** DB_NAME of the database whose backups to read; may be left out when workers have one. */
  database?: string;
}

export interface RereadCopyResult {
  key: string;
  location: RereadCopy['location'];
  createdAt: string;
  outcome: 'ok' | 'failed' | 'skipped';
  durationMs?: number;
  /** Why it failed (bit rot, a lost key, a truncated object) or was skipped. */
  reason?: string;
  /** The error kind of a failure (ERROR_KINDS). */
  errorKind?: ErrorKind;
}

export interface RereadResult {
  copies: RereadCopyResult[];
  checked: number;
  failed: number;
}

/**
 * The monthly re-read: every copy (local and remote) of every retained backup is fetched, checked
 * against its manifest, decrypted and read whole by pg_restore, one activity per copy, without
 * restoring anything. A failed copy does not stop the others; the workflow fails at the end, naming
 * each one, so the alerts fire.
 */
export async function rereadWorkflow(request: RereadRequest = {}): Promise<RereadResult> {
  return reportedRun(
    'reread',
    request.database,
    () => readAll(request),
    ({ checked, failed }) => ({ checked, failed }),
  );
}

async function readAll(request: RereadRequest): Promise<RereadResult> {
  const { workflowId, taskQueue } = workflowInfo();
  const planner = proxyActivities<RereadActivities>(restoreQueueOptions(taskQueue));
  const plan = await planner.planReread({ database: request.database });
  const host = proxyActivities<RereadActivities>(hostActivityOptions(plan.hostTaskQueue, plan.retryAttempts));
  const copies: RereadCopyResult[] = [];
  for (const [index, copy] of plan.copies.entries()) {
    setCurrentDetails(`reading ${index + 1} of ${plan.copies.length}: ${copy.key} (${copy.location})`);
    copies.push(await reread(host, request.database, workflowId, copy));
  }
  const result = {
    copies,
    checked: copies.filter((c) => c.outcome !== 'skipped').length,
    failed: copies.filter((c) => c.outcome === 'failed').length,
  };
  setCurrentDetails(`**${result.failed ? `${result.failed} failed` : 'all readable'}** of ${result.checked}`);
  if (result.failed) throw rereadFailure(result);
  return result;
}

async function reread(
  host: ReturnType<typeof proxyActivities<RereadActivities>>,
  database: string | undefined,
  workflowId: string,
  copy: RereadCopy,
): Promise<RereadCopyResult> {
  const { key, location, createdAt } = copy;
  if (copy.skip) return { key, location, createdAt, outcome: 'skipped', reason: copy.skip };
  try {
    const { durationMs } = await host.rereadCopy.executeWithOptions(
      { summary: `re-read ${location} ${key}` },
      [{ database, workflowId, copy }],
    );
    return { key, location, createdAt, outcome: 'ok', durationMs };
  } catch (error) {
    return {
      key,
      location,
      createdAt,
      outcome: 'failed',
      reason: describeFailure(error),
      errorKind: failureKind(error),
    };
  }
}

/** One message naming every failed copy and why; the kind of the first, so the CLI's exit code says something. */
function rereadFailure(result: RereadResult): ApplicationFailure {
  const failed = result.copies.filter((c) => c.outcome === 'failed');
  return kindedFailure(
    failed[0]!.errorKind ?? 'General',
    `re-read: ${failed.length} of ${result.checked} backup copies unreadable: ${failed
      .map((c) => `${c.location} ${c.key}: ${c.reason}`)
      .join('; ')}`,
    ['restore from another copy, and take a new backup if none is readable', result],
  );
}
