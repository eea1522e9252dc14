import { CancellationScope, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ReportActivities, ReportedRun } from '../activities/report.js';
import type { RunKind } from '../src/core/outcome.js';
import { reportActivityOptions } from '../src/temporal/names.js';
import { describeFailure, failureKind } from './failure.js';

/** Facts of a successful run for its report (bytes, RTO...), beyond kind, duration and result. */
type RunDetails = Omit<Partial<ReportedRun>, 'kind' | 'database' | 'workflowId' | 'ok' | 'durationMs'>;

/**
 * Runs a workflow's work and reports its outcome (reportRun: metrics, and the webhook on failure),
 * success or failure, then returns or rethrows as the work did. `database` routes the report; left
 * out, the only database's worker takes it.
 */
export async function reportedRun<T>(
  kind: RunKind,
  database: string | undefined,
  work: () => Promise<T>,
  details: (result: T) => RunDetails,
): Promise<T> {
  const base = { kind, database, workflowId: workflowInfo().workflowId };
  const durationMs = () => Date.now() - workflowInfo().startTime.getTime();
  let result: T;
  try {
    result = await work();
  } catch (error) {
    await report({
      ...base,
      ok: false,
      durationMs: durationMs(),
      errorKind: failureKind(error) ?? 'General',
      error: describeFailure(error),
    });
    throw error;
  }
  await report({ ...base, ok: true, durationMs: durationMs(), ...details(result) });
  return result;
}

/**
 * A failed report is logged, never the run's failure. Runs recorded before reports existed (test/histories)
 * had no such activity: patched() keeps replaying them as they ran.
 */
async function report(outcome: ReportedRun): Promise<void> {
  if (!patched('report-run')) return;
  const { reportRun } = proxyActivities<ReportActivities>(reportActivityOptions(workflowInfo().taskQueue));
  // A cancelled run still reports that it failed.
  await CancellationScope.nonCancellable(() => reportRun(outcome)).catch((error: unknown) =>
    log.warn('could not report the run', { error: describeFailure(error) }),
  );
}
