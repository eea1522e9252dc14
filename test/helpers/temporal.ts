import type { Client } from '@temporalio/client';
import { DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { connectClient } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { bundleWorkflows, startWorker, type RunningWorker } from '../../src/worker/index.js';

// Worker chatter (state changes, pollers) would bury test output: warnings and errors only.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
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
