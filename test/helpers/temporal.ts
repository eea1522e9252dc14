import type { Client, WorkflowHandle } from '@temporalio/client';
import { Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { connectClient } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { tempDir } from './files.js';
import { testEnv, uniqueName } from './services.js';
import { bundleWorkflows, startWorker, type RunningWorker } from '../../src/worker/index.js';
import { WorkerLogger } from '../../src/worker/logger.js';

// Worker chatter (state changes, pollers) would bury test output: warnings and errors only.
try {
  Runtime.install({ logger: new WorkerLogger('WARN') });
} catch {
  // Already installed by another file in this process.
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundling takes seconds: once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

/** A real worker on the real dev server, on the config's own task queues, stopped after the work. */
export async function withWorker<T>(
  configs: Config | Config[],
  work: (client: Client, worker: RunningWorker) => Promise<T>,
): Promise<T> {
  const worker = await startWorker(configs, { workflowBundle: await workflowBundle() });
  const client = await connectClient((Array.isArray(configs) ? configs[0]! : configs).temporal);
  try {
    return await work(client, worker);
  } finally {
    await worker.shutdown();
    await client.connection.close();
  }
}

/** The id of the first workflow the schedule started; the schedule records it a moment after the trigger. */
export async function firstActionOf(client: Client, id: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const [first] = (await client.schedule.getHandle(id).describe()).info.recentActions;
    if (first) return first.action.workflow.workflowId;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`schedule ${id} started no workflow`);
}

export interface TestWorker {
  env: Record<string, string>;
  config: Config;
  worker: RunningWorker;
  client: Client;
  stop(): Promise<void>;
}

/**
 * A worker and a client that stay up for a whole test file, on a task queue, BACKUP_DIR and
 * S3_PREFIX of their own (named after `name`), with the services' environment and the overrides.
 */
export async function startTestWorker(
  name: string,
  overrides: Record<string, string | undefined>,
): Promise<TestWorker> {
  const env = testEnv({
    BACKUP_DIR: tempDir('backups'),
    S3_PREFIX: `${uniqueName(name)}/`,
    TEMPORAL_TASK_QUEUE: uniqueName(name),
    ...overrides,
  });
  const config = loadConfig({ env });
  const worker = await startWorker(config, { workflowBundle: await workflowBundle() });
  const client = await connectClient(config.temporal);
  return {
    env,
    config,
    worker,
    client,
    async stop() {
      await worker.shutdown();
      await client.connection.close();
    },
  };
}

export interface StartedActivity {
  activity: string;
  /** The attempt that ran last: attempts before it that died are not events of their own. */
  attempt: number;
  /** Why the attempt before it ended, e.g. "activity Heartbeat timeout" after a worker was killed. */
  lastFailure?: string;
}

/** Every activity a run started, with its last attempt and the failure that attempt retried. */
export async function startedActivities(handle: WorkflowHandle): Promise<StartedActivity[]> {
  const { events } = await handle.fetchHistory();
  const scheduled = new Map<string, string>();
  const started: StartedActivity[] = [];
  for (const event of events ?? []) {
    const schedule = event.activityTaskScheduledEventAttributes;
    if (schedule) scheduled.set(String(event.eventId), schedule.activityType?.name ?? '');
    const start = event.activityTaskStartedEventAttributes;
    if (start) {
      started.push({
        activity: scheduled.get(String(start.scheduledEventId)) ?? '',
        attempt: start.attempt ?? 1,
        lastFailure: start.lastFailure?.message ?? undefined,
      });
    }
  }
  return started;
}
