import {
  CancellationScope,
  proxyActivities,
  setCurrentDetails,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { DrillActivities, DrillPlan } from '../activities/drill.js';
import { withinTarget } from '../src/core/drill.js';
import type { DrillReport } from '../src/core/outcome.js';
import type { RestoreStatus } from '../src/core/restore/status.js';
import { DATABASE_ATTRIBUTE, hostActivityOptions, restoreQueueOptions } from '../src/temporal/names.js';
import { describeFailure } from './failure.js';
import { restoreWorkflow, type RestoreResult } from './restore.js';
import { reportedRun } from './report.js';

export interface DrillRequest {
  /** DB_NAME of the database whose newest backup to restore; may be left out when workers have one. */
  database?: string;
}

export interface DrillResult {
  report: DrillReport;
  reportPath: string;
}

/** What the restore left to report: its status (phases, plan), its RTO, or why it failed. */
interface RestoreOutcome {
  status?: RestoreStatus;
  rtoMs?: number;
  failure?: unknown;
}

/**
 * The DR drill: restore the newest complete backup into a scratch database (a child restoreWorkflow
 * with --force: no approval, and the production database is never the target), verified as every
 * restore is; then, whatever happened, drop the scratch database and write the report. The drill
 * fails when the restore (or the drop) failed; one over the RTO target completes, and its report says
 * withinTarget: false.
 */
export async function drillWorkflow(request: DrillRequest = {}): Promise<DrillResult> {
  return reportedRun(
    'drill',
    request.database,
    () => drill(request),
    ({ report }) => ({ rtoMs: report.rtoMs }),
  );
}

async function drill(request: DrillRequest): Promise<DrillResult> {
  const { workflowId, taskQueue, startTime } = workflowInfo();
  const startedAt = new Date(startTime).toISOString();
  const planner = proxyActivities<DrillActivities>(restoreQueueOptions(taskQueue));
  const plan = await planner.planDrill({ database: request.database, startedAt, workflowId });
  const host = proxyActivities<DrillActivities>(hostActivityOptions(plan.hostTaskQueue, plan.retryAttempts));
  const restore = await restoreIntoScratch(plan, taskQueue, `${workflowId}-restore`, host);
  return CancellationScope.nonCancellable(async () => {
    setCurrentDetails('**dropping the scratch database**');
    const { database, scratchDatabase } = plan;
    const dropFailure = await host.dropScratchDatabase({ database, scratchDatabase }).then(
      () => undefined,
      (error: unknown) => error,
    );
    const report = drillReport(plan, startedAt, restore, dropFailure);
    const reportPath = await host.saveDrillReport({ database, report });
    setCurrentDetails(`**${report.ok ? 'passed' : 'failed'}**: ${reportPath}`);
    const failure = restore.failure ?? dropFailure;
    if (failure) throw failure;
    return { report, reportPath };
  });
}

/** Runs the restore as a child (its own history, status and log); a failure is kept, not thrown. */
async function restoreIntoScratch(
  plan: DrillPlan,
  taskQueue: string,
  restoreId: string,
  host: ReturnType<typeof proxyActivities<DrillActivities>>,
): Promise<RestoreOutcome> {
  setCurrentDetails(`**restoring** into ${plan.scratchDatabase}`);
  try {
    const child = await startChild(restoreWorkflow, {
      workflowId: restoreId,
      args: [
        {
          database: plan.database,
          taskQueue,
          source: { latest: true },
          target: { database: plan.scratchDatabase },
          createDb: true,
          force: true,
        },
      ],
      typedSearchAttributes: [{ key: DATABASE_ATTRIBUTE, value: plan.database }],
      staticSummary: `DR drill of ${plan.database}: restore into ${plan.scratchDatabase}`,
    });
    const result: RestoreResult = await child.result();
    return { status: result.status, rtoMs: result.rtoMs };
  } catch (failure) {
    const status = await CancellationScope.nonCancellable(() =>
      host.restoreStatusOf({ database: plan.database, workflowId: restoreId }),
    );
    return { status, failure };
  }
}

function drillReport(
  plan: DrillPlan,
  startedAt: string,
  restore: RestoreOutcome,
  dropFailure: unknown,
): DrillReport {
  const backup = restore.status?.plan?.backup;
  const errors = [restore.failure, dropFailure].filter((e) => e !== undefined).map(describeFailure);
  return {
    database: plan.database,
    workflowId: workflowInfo().workflowId,
    startedAt,
    finishedAt: new Date().toISOString(),
    ok: errors.length === 0,
    ...(backup
      ? { backup: { key: backup.key, createdAt: backup.createdAt, fileBytes: backup.fileBytes } }
      : {}),
    scratchDatabase: plan.scratchDatabase,
    phases: restore.status?.phases ?? [],
    rtoMs: restore.rtoMs,
    rtoTargetMs: plan.rtoTargetMs,
    withinTarget: withinTarget(restore.rtoMs, plan.rtoTargetMs),
    scratchDropped: dropFailure === undefined,
    ...(errors.length ? { error: errors.join('; ') } : {}),
  };
}
