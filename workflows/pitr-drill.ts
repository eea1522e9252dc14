import { CancellationScope, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { DrillActivities } from '../activities/drill.js';
import type { PitrDrillActivities, PitrDrillRun } from '../activities/pitr-drill.js';
import { withinTarget } from '../src/core/drill.js';
import type { DrillReport } from '../src/core/outcome.js';
import { pitrDrillFacts, pitrDrillTarget } from '../src/core/pitr-drill.js';
import { hostActivityOptions, restoreQueueOptions } from '../src/temporal/names.js';
import type { DrillResult } from './drill.js';
import { describeFailure, kindedFailure } from './failure.js';
import { reportedRun } from './report.js';

// The PITR drill (docs/pitr.md#the-pitr-drill): recover a scratch server to a moment (five minutes
// ago by default), read the newest heartbeat in it, and report the RTO (restore + recovery) and the
// achieved RPO (the moment less that heartbeat). It fails when the RPO is over RPO_TARGET_SECONDS.

export interface PitrDrillRequest {
  database?: string;
  /** How long ago the moment is, in seconds (PITR_DRILL_LAG_SECONDS: 300). */
  lagSeconds?: number;
}

export async function pitrDrillWorkflow(request: PitrDrillRequest = {}): Promise<DrillResult> {
  return reportedRun(
    'drill',
    request.database,
    () => pitrDrill(request),
    ({ report }) => ({ rtoMs: report.rtoMs }),
  );
}

async function pitrDrill(request: PitrDrillRequest): Promise<DrillResult> {
  const { workflowId, taskQueue, startTime } = workflowInfo();
  const startedAt = new Date(startTime).toISOString();
  const planner = proxyActivities<PitrDrillActivities>(restoreQueueOptions(taskQueue));
  const plan = await planner.planPitrDrill({ database: request.database });
  const options = hostActivityOptions(plan.hostTaskQueue, plan.retryAttempts);
  const host = proxyActivities<PitrDrillActivities>(options);
  const reports = proxyActivities<DrillActivities>(options);
  const now = new Date().toISOString();
  const target = pitrDrillTarget(now, request.lagSeconds);
  setCurrentDetails(`**recovering** a scratch server to ${target}`);
  let run: PitrDrillRun | undefined;
  let failure: unknown;
  try {
    run = await host.recoverForDrill({ database: plan.database, workflowId, target, now });
  } catch (error) {
    failure = error;
  }
  return CancellationScope.nonCancellable(async () => {
    const pitr = pitrDrillFacts({
      target,
      newestBeat: run?.newestBeat,
      baseBackup: run?.baseBackup,
      rpoTargetSeconds: plan.rpoTargetSeconds,
    });
    const rtoMs = run ? run.restoreMs + run.recoveryMs : undefined;
    const rpoFailure =
      run && !pitr.withinRpo
        ? pitr.rpoMs === undefined
          ? 'no heartbeat in the recovered server (durable_backup.heartbeat): the achieved RPO is unknown'
          : `achieved RPO ${Math.round(pitr.rpoMs / 1000)} s is over RPO_TARGET_SECONDS (${plan.rpoTargetSeconds} s)`
        : undefined;
    const errors = [failure === undefined ? undefined : describeFailure(failure), rpoFailure].filter(
      (e): e is string => e !== undefined,
    );
    const report: DrillReport = {
      database: plan.database,
      workflowId,
      startedAt,
      finishedAt: new Date().toISOString(),
      ok: errors.length === 0,
      scratchDatabase: '(scratch server)',
      phases: run
        ? [
            {
              phase: 'restore',
              durationMs: run.restoreMs,
              detail: `pgbackrest restore of ${run.baseBackup}`,
            },
            {
              phase: 'recover',
              durationMs: run.recoveryMs,
              detail: `to ${target}; last transaction ${run.recoveredTo ?? '(none)'}`,
            },
          ]
        : [],
      rtoMs,
      rtoTargetMs: plan.rtoTargetMs,
      withinTarget: withinTarget(rtoMs, plan.rtoTargetMs),
      scratchDropped: true,
      ...(errors.length ? { error: errors.join('; ') } : {}),
      pitr,
    };
    const reportPath = await reports.saveDrillReport({ database: plan.database, report });
    setCurrentDetails(`**${report.ok ? 'passed' : 'failed'}**: ${reportPath}`);
    if (failure) throw failure;
    if (rpoFailure) throw kindedFailure('General', `PITR drill: ${rpoFailure}`);
    return { report, reportPath };
  });
}
