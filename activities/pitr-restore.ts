import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import type { PitrRestorePlan, PitrRestoreRequest } from '../src/core/pitr-restore.js';
import { configError } from '../src/core/errors.js';
import { planCluster, restoreCluster, type ClusterOutcome } from '../src/pitr/cluster-restore.js';
import { pgBackRestOf } from '../src/pitr/pgbackrest.js';
import { copyOut, planMoment, type CopyOutcome } from '../src/pitr/restore-to-moment.js';
import { recoverScratch } from '../src/pitr/scratch.js';
import { pitrOf } from '../src/pitr/setup.js';
import { approvalSettings, planDigest } from '../src/restore/approval.js';
import { checkForce, checkTarget } from '../src/restore/target.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

// Restore to a moment (docs/pitr.md): thin adapters over src/pitr. The scratch server lives inside
// one activity (recover, copy out, remove): a retry starts from a new scratch folder.

export type { ClusterOutcome, PitrRestoreRequest };

export interface ResolvedPitrRestore {
  database: string;
  workflowId: string;
  hostTaskQueue: string;
  approvers: string[];
  minApprovals: number;
  signedApprovals: boolean;
  approvalTimeoutSeconds: number;
  retryAttempts: number;
}

export interface RecoveredCopy extends CopyOutcome {
  restoreMs: number;
  recoveryMs: number;
  copyMs: number;
  recoveredTo?: string;
}

export function createPitrRestoreActivities(config: Config) {
  const secrets = secretsOf(config);
  const signal = () => Context.current().cancellationSignal;

  return {
    /** On the restore queue: the worker's policy (targets, --force), and the host that will restore. */
    async resolvePitrRestore(
      request: PitrRestoreRequest & { workflowId: string },
    ): Promise<ResolvedPitrRestore> {
      return asActivity(secrets, async () => {
        pitrOf(config);
        checkClusterRequest(request);
        checkTarget(config, request.target);
        // No drill restores to a moment through this path: --force passes only where
        // RESTORE_ALLOW_FORCE allows it (createDb false keeps checkForce's drill exception out).
        checkForce(config, { ...request, createDb: false, source: { latest: true } });
        return {
          database: config.database.name,
          workflowId: request.workflowId,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          ...approvalSettings(config, request.approvalTimeoutSeconds),
          retryAttempts: config.backup.retryAttempts,
        };
      });
    },

    /** The plan and its digest (what a signed approval names). */
    async planPitrRestore(
      request: PitrRestoreRequest,
      now: string,
    ): Promise<{ plan: PitrRestorePlan; digest: string }> {
      return asActivity(secrets, async () => {
        const pitr = pitrOf(config);
        const br = pgBackRestOf(pitr);
        const plan = request.cluster
          ? await planCluster(config, br, request.to, now)
          : await planMoment(config, br, request, now);
        return { plan, digest: planDigest(plan) };
      });
    },

    /** Scratch restore and recovery to the moment, the copy into the target, then the scratch removed. */
    async recoverAndCopy(
      resolved: ResolvedPitrRestore,
      plan: PitrRestorePlan,
      request: PitrRestoreRequest,
    ): Promise<RecoveredCopy> {
      return asActivity(secrets, () =>
        heartbeating(async (record) => {
          const pitr = pitrOf(config);
          const info = Context.current().info;
          const scratch = await recoverScratch({
            br: pgBackRestOf(pitr),
            configDir: pitr.configDir,
            owner: { workflowId: resolved.workflowId, runId: info.workflowExecution?.runId },
            target: plan.to,
            set: plan.base.label,
            signal: signal(),
            progress: record,
          });
          try {
            const started = Date.now();
            record({ step: 'copying' });
            const copied = await copyOut(config, scratch, plan, request, signal());
            return {
              ...copied,
              restoreMs: scratch.restoreMs,
              recoveryMs: scratch.recoveryMs,
              copyMs: Date.now() - started,
              recoveredTo: scratch.recoveredTo,
            };
          } finally {
            await scratch.remove();
          }
        }),
      );
    },

    /** The whole cluster: pgBackRest into PITR_PG_DATA with the server stopped, then started. */
    async recoverCluster(resolved: ResolvedPitrRestore, plan: PitrRestorePlan): Promise<ClusterOutcome> {
      return asActivity(secrets, () =>
        heartbeating((record) =>
          restoreCluster(config, pgBackRestOf(pitrOf(config)), plan, { signal: signal(), progress: record }),
        ),
      );
    },
  };
}

export type PitrRestoreActivities = ReturnType<typeof createPitrRestoreActivities>;

/**
 * The worker's own check of what the CLI refuses: a cluster restore names no database, so a target,
 * --create-db or --table cannot ride along with it (and borrow another path's exceptions).
 */
function checkClusterRequest(request: PitrRestoreRequest): void {
  if (!request.cluster) return;
  const extra = [
    request.target?.database !== undefined && '--target-db',
    request.target?.host !== undefined && '--target-host',
    request.target?.port !== undefined && '--target-port',
    request.createDb && '--create-db',
    (request.tables?.length ?? 0) > 0 && '--table',
  ].find(Boolean);
  if (extra) throw configError(`--cluster: not with ${extra} (the whole cluster goes into PITR_PG_DATA)`);
}
