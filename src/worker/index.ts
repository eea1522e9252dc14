import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import {
  createBackupActivities,
  createReportActivities,
  createDrillActivities,
  createPitrRestoreActivities,
  createPitrDrillActivities,
  createRereadActivities,
  createRekeyActivities,
  createRestoreActivities,
  createRetentionActivities,
  createPitrBackupActivities,
} from '../../activities/index.js';
import { routeByDatabase } from '../../activities/route.js';
import type { Config } from '../config/index.js';
import { removeAbandonedGpgHomes } from '../crypto/gpg-home.js';
import { messageOf } from '../crypto/seal.js';
import { sealerFor, sharedPrivateKey, type PrivateKey } from '../crypto/keys.js';
import { loadSigningKey } from '../crypto/signing.js';
import { checkApproverKeys } from '../restore/approval.js';
import { configError } from '../core/errors.js';
import { WorkerMetrics } from '../metrics/registry.js';
import { serveMetrics } from '../metrics/server.js';
import { startHeartbeat } from '../pitr/heartbeat.js';
import { checkDependencies } from '../postgres/tools.js';
import { openStores } from '../storage/index.js';
import { temporalConnectionOptions, temporalUnreachable } from '../temporal/connection.js';
import {
  hostBackupTaskQueueName,
  hostRestoreTaskQueueName,
  hostTaskQueueName,
  restoreTaskQueueName,
} from '../temporal/names.js';

/** workflows/index.js once built (dist/), workflows/index.ts when run from the sources (tests). */
export const WORKFLOWS_PATH = ['index.js', 'index.ts']
  .map((file) => fileURLToPath(new URL(`../../workflows/${file}`, import.meta.url)))
  .find((path) => existsSync(path))!;

/** Written by `npm run build` beside the compiled code; absent when running from the sources. */
export const PREBUILT_BUNDLE_PATH = fileURLToPath(new URL('../../workflow-bundle.js', import.meta.url));

export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

/** One database's activities, with its own keys and stores. */
async function activitiesFor(config: Config, metrics: WorkerMetrics) {
  const sealer = await sealerFor(config);
  const signingKey = await loadSigningKey(config);
  if (!signingKey && config.environment === 'production') {
    throw configError(
      'BACKUP_SIGNING_KEY_FILE: a production worker signs every backup it writes; set it (docs/security.md)',
    );
  }
  if (config.restore.enabled) await checkApproverKeys(config);
  const stores = openStores(config);
  await stores.local.ensureFolder(config.backup.dir);
  metrics.addDatabase(config, stores);
  const privateKey = sharedPrivateKey(config);
  if (config.restore.enabled && config.restore.privateKeyFile) warmUp(privateKey);
  return {
    ...createBackupActivities({ config, sealer, signingKey, local: stores.local, remote: stores.remote }),
    ...createRetentionActivities(config, stores),
    ...createRestoreActivities(config, stores, privateKey),
    ...createReportActivities(config, metrics),
    ...createDrillActivities(config),
    ...createRereadActivities(config, stores, privateKey),
    ...createRekeyActivities(config, stores, privateKey, signingKey),
    ...createPitrBackupActivities(config),
    ...createPitrRestoreActivities(config),
    ...createPitrDrillActivities(config),
  };
}

/**
 * A worker that may restore reads its key at start, in the background: the first restore does not
 * wait for gpg to import it and start its agent, and a key that cannot be used shows in the log now
 * rather than in the middle of an incident. Restores report the same error when they need the key.
 */
function warmUp(privateKey: PrivateKey): void {
  privateKey().catch((error: unknown) =>
    Runtime.instance().logger.warn(
      `${messageOf(error)}; restores on this worker will fail until it is fixed`,
    ),
  );
}

export interface RunningWorker {
  /** Resolves when every poller has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
  taskQueues: string[];
}

type WorkflowSource = Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'>;

/**
 * Starts the pollers of one host, for one database or several: the shared queue (workflows,
 * planning), this host's own queue (the activities that read and write local files) and, when it may
 * restore, the restore queue. The Temporal connection, queues and METRICS_PORT are the first
 * database's: all of them share one worker.
 */
export async function startWorker(
  configs: Config | Config[],
  options: { workflowBundle?: WorkflowBundleWithSourceMap } = {},
): Promise<RunningWorker> {
  const all = Array.isArray(configs) ? configs : [configs];
  const config = all[0]!;
  await checkDependencies(
    all.map((c) => c.database),
    // A restore worker reads zstd backups whatever it writes itself.
    {
      zstd: all.some((c) => c.backup.compression.method === 'zstd' || c.restore.enabled),
      prlimit: all.some((c) => c.restore.enabled),
    },
  );
  const { logger } = Runtime.instance();
  for (const home of removeAbandonedGpgHomes())
    logger.info(`removed ${home}, the GnuPG home of a worker that no longer runs, and stopped its agent`);
  const metrics = new WorkerMetrics((message) => logger.warn(message));
  const byDatabase = new Map<string, Awaited<ReturnType<typeof activitiesFor>>>();
  for (const databaseConfig of all)
    byDatabase.set(databaseConfig.database.name, await activitiesFor(databaseConfig, metrics));
  const { metricsPort } = config.monitoring;
  // Before the pollers: a port in use fails the start before any of them holds the process open.
  const metricsServer = metricsPort ? await serveMetrics(metrics.registry, metricsPort) : undefined;
  const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporal)).catch(
    (error: unknown) => Promise.reject(temporalUnreachable(config.temporal.address, error)),
  );
  const workers = await createPollers(connection, all, routeByDatabase(byDatabase), workflowSource(options));
  // PITR=pgbackrest: the heartbeat row the PITR drill measures the achieved RPO by (src/pitr/heartbeat.ts).
  const heartbeats = all.filter((c) => c.pitr).map((c) => startHeartbeat(c.database, logger));
  const done = Promise.all(workers.map((worker) => worker.run()))
    .then(() => connection.close())
    .finally(() => {
      for (const heartbeat of heartbeats) heartbeat.stop();
      return metricsServer?.close();
    });
  return {
    done,
    taskQueues: workers.map((worker) => worker.options.taskQueue),
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** The bundle given (tests), the one `npm run build` wrote, or the sources. */
function workflowSource(options: { workflowBundle?: WorkflowBundleWithSourceMap }): WorkflowSource {
  if (options.workflowBundle) return { workflowBundle: options.workflowBundle };
  if (existsSync(PREBUILT_BUNDLE_PATH)) return { workflowBundle: { codePath: PREBUILT_BUNDLE_PATH } };
  return { workflowsPath: WORKFLOWS_PATH };
}

async function createPollers(
  connection: NativeConnection,
  all: Config[],
  activities: WorkerOptions['activities'],
  workflows: WorkflowSource,
): Promise<Worker[]> {
  const { temporal, workerHostId, maxConcurrent } = all[0]!;
  const base = { connection, namespace: temporal.namespace, activities };
  const shared = await Worker.create({ ...base, taskQueue: temporal.taskQueue, ...workflows });
  // This host's queues. A worker polls for no more tasks than it has free slots: the rest of a wave
  // waits in Temporal's queue (scheduled, not started, in the UI), not in this process's memory.
  const onHost = (taskQueue: string, slots?: number) =>
    Worker.create({
      ...base,
      taskQueue,
      ...(slots ? { maxConcurrentActivityTaskExecutions: slots } : {}),
      // Upload checkpoints reach the server within 2 s, so a replacement resumes from nearly where it was.
      maxHeartbeatThrottleInterval: '2 seconds',
    });
  const hosts = [
    await onHost(hostTaskQueueName(temporal.taskQueue, workerHostId)),
    await onHost(hostBackupTaskQueueName(temporal.taskQueue, workerHostId), maxConcurrent.backups),
  ];
  // Restores start on their own queue, polled only by workers allowed to restore (RESTORE_ENABLED).
  // Their heavy steps have slots of their own, apart from the backups': a wave leaves them room. The
  // step that closes a target reopens it before it gives its slot back (restoreIntoTarget).
  if (!all.some((c) => c.restore.enabled)) return [shared, ...hosts];
  const restore = await Worker.create({ ...base, taskQueue: restoreTaskQueueName(temporal.taskQueue) });
  const restoreHost = await onHost(
    hostRestoreTaskQueueName(temporal.taskQueue, workerHostId),
    maxConcurrent.restores,
  );
  return [shared, ...hosts, restore, restoreHost];
}
