import { secretsOf, type Config } from '../src/config/index.js';
import {
  cleanupIncomplete,
  deleteBackup,
  planRetention,
  type CleanupReport,
  type PlannedBackup,
} from '../src/retention/sweep.js';
import type { DriftReport } from '../src/core/reconcile.js';
import { reconcile } from '../src/health/reconcile.js';
import type { Stores } from '../src/storage/index.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

/** What failed runs left is removed once it is older than this: younger, it may be a run in progress. */
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

/** Activities of the retention sweep; the decisions are src/core/retention.ts, the I/O src/retention/. */
export function createRetentionActivities(config: Config, stores: Stores) {
  const secrets = secretsOf(config);
  return {
    /** Runs on the shared queue: the sweep's other steps run where BACKUP_DIR is. */
    async retentionHost(_request: { database?: string }): Promise<string> {
      return hostTaskQueueName(config.temporal.taskQueue, config.workerHostId);
    },

    // The steps below heartbeat, so that a sweep whose worker died is taken over within the
    // heartbeat timeout rather than after the 10-minute limit of a step.

    async planRetention(request: { database?: string; asOf: string }): Promise<PlannedBackup[]> {
      return asActivity(secrets, () =>
        heartbeating(() => planRetention(config, stores, new Date(request.asOf))),
      );
    },

    async deleteBackup(backup: { database?: string; id: string; dataKey: string }): Promise<void> {
      return asActivity(secrets, () => heartbeating(() => deleteBackup(stores, backup.id, backup.dataKey)));
    },

    async cleanupIncomplete(_request: { database?: string }): Promise<CleanupReport> {
      return asActivity(secrets, () =>
        heartbeating(() =>
          cleanupIncomplete(stores, config.backup.prefix, new Date(Date.now() - STALE_AFTER_MS)),
        ),
      );
    },

    /** The 3-2-1 check of what the sweep kept: reported, never repaired (backupctl health --repair does). */
    async reconcileCopies(_request: { database?: string }): Promise<DriftReport> {
      return asActivity(secrets, () => heartbeating(() => reconcile(config, stores)));
    },
  };
}

export type RetentionActivities = ReturnType<typeof createRetentionActivities>;
