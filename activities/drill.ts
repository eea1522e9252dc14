import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { scratchDatabaseName } from '../src/core/drill.js';
import { configError } from '../src/core/errors.js';
import type { DrillReport } from '../src/core/outcome.js';
import type { RestoreStatus } from '../src/core/restore/status.js';
import { drillRunTag, writeDrillReport } from '../src/drill/reports.js';
import { dropDatabase, inspectTarget, targetDatabase } from '../src/restore/target.js';
import { hostTaskQueueName, restoreStatusQuery } from '../src/temporal/names.js';
import { asActivity } from './failure.js';

/** What a drill needs to know before it starts its restore; decided by a worker that may restore. */
export interface DrillPlan {
  database: string;
  scratchDatabase: string;
  /** The worker that planned it drops the scratch database and keeps the report in its BACKUP_DIR. */
  hostTaskQueue: string;
  rtoTargetMs: number;
  retryAttempts: number;
}

export function createDrillActivities(config: Config) {
  const secrets = secretsOf(config);
  /** Every statement on the scratch database goes through this: never DB_NAME, whatever the caller says. */
  const scratch = (name: string) => {
    if (name === config.database.name) {
      throw configError(`the drill's scratch database "${name}" is DB_NAME itself; a drill never touches it`);
    }
    return targetDatabase(config, { database: name });
  };

  return {
    /** Runs on the restore queue: names the scratch database, and refuses one that is DB_NAME or exists. */
    async planDrill(request: {
      database?: string;
      startedAt: string;
      workflowId: string;
    }): Promise<DrillPlan> {
      return asActivity(secrets, async () => {
        const name = scratchDatabaseName(
          config.database.name,
          new Date(request.startedAt),
          config.backup.timeZone,
          drillRunTag(request.workflowId),
        );
        const { exists } = await inspectTarget(scratch(name), []);
        if (exists)
          throw configError(
            `the drill's scratch database "${name}" exists already; it is not ours to replace`,
          );
        return {
          database: config.database.name,
          scratchDatabase: name,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          rtoTargetMs: config.monitoring.rtoTargetMinutes * 60_000,
          retryAttempts: config.backup.retryAttempts,
        };
      });
    },

    async dropScratchDatabase(request: { database?: string; scratchDatabase: string }): Promise<void> {
      return asActivity(secrets, () => dropDatabase(scratch(request.scratchDatabase)));
    },

    /**
     * A failed restore's phases, by its status query (a worker answers it from the history); undefined
     * when it cannot be asked, and the report says what the failure said.
     */
    async restoreStatusOf(request: {
      database?: string;
      workflowId: string;
    }): Promise<RestoreStatus | undefined> {
      return Context.current()
        .client.workflow.getHandle(request.workflowId)
        .query(restoreStatusQuery)
        .catch(() => undefined);
    },

    async saveDrillReport(request: { database?: string; report: DrillReport }): Promise<string> {
      return asActivity(secrets, () =>
        writeDrillReport(config.backup.dir, config.backup.timeZone, request.report),
      );
    },
  };
}

export type DrillActivities = ReturnType<typeof createDrillActivities>;
