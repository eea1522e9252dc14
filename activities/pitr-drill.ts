import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { runPitrDrill, type PitrDrillRun } from '../src/pitr/drill.js';
import { pitrOf } from '../src/pitr/setup.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

// The PITR drill (docs/pitr.md#the-pitr-drill): thin adapters over src/pitr/drill.ts.

export interface PitrDrillPlan {
  database: string;
  hostTaskQueue: string;
  rtoTargetMs: number;
  rpoTargetSeconds: number;
  retryAttempts: number;
}

export type { PitrDrillRun };

export function createPitrDrillActivities(config: Config) {
  const secrets = secretsOf(config);
  return {
    /** On the restore queue: PITR must be on; the host that recovers, and the targets. */
    async planPitrDrill(request: { database?: string }): Promise<PitrDrillPlan> {
      void request;
      return asActivity(secrets, async () => {
        const pitr = pitrOf(config);
        return {
          database: config.database.name,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          rtoTargetMs: config.monitoring.rtoTargetMinutes * 60_000,
          rpoTargetSeconds: pitr.rpoTargetSeconds,
          retryAttempts: config.backup.retryAttempts,
        };
      });
    },

    async recoverForDrill(request: {
      database?: string;
      workflowId: string;
      target: string;
      now: string;
    }): Promise<PitrDrillRun> {
      return asActivity(secrets, () =>
        heartbeating((record) =>
          runPitrDrill(config, {
            owner: { workflowId: request.workflowId, runId: Context.current().info.workflowExecution?.runId },
            target: request.target,
            now: request.now,
            signal: Context.current().cancellationSignal,
            progress: record,
          }),
        ),
      );
    },
  };
}

export type PitrDrillActivities = ReturnType<typeof createPitrDrillActivities>;
