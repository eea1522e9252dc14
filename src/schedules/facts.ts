import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../client/index.js';
import type { Config, TemporalConfig } from '../config/index.js';
import type { ScheduleFacts } from '../core/health.js';
import { listSchedules, type ScheduleStatus } from './index.js';

// What `backupctl health` judges of the schedules (src/core/health.ts), read from Temporal here, in
// the layer that talks to it, so that src/health needs no Temporal client.

export interface ScheduleFactsReader {
  /** Each of the database's schedules and the status of its recent runs; rejects when Temporal cannot tell. */
  factsOf(config: Config): Promise<ScheduleFacts[]>;
  close(): Promise<void>;
}

/**
 * One Temporal connection for every database. When it cannot be made, each factsOf rejects with the
 * reason, which fails the schedules check only: the other checks need no Temporal.
 */
export async function openScheduleFacts(temporal: TemporalConfig): Promise<ScheduleFactsReader> {
  const client = await connectClient(temporal).catch((error: unknown) => error as Error);
  if (client instanceof Error) {
    return { factsOf: () => Promise.reject(client), close: () => Promise.resolve() };
  }
  return { factsOf: (config) => scheduleFacts(client, config), close: () => client.connection.close() };
}

async function scheduleFacts(temporal: Client, config: Config): Promise<ScheduleFacts[]> {
  const statuses = await listSchedules(temporal, config);
  return Promise.all(
    statuses.map(async (s) => ({
      id: s.id,
      state: s.state,
      note: s.note,
      runs: await runStatuses(temporal, s),
    })),
  );
}

/** The status of each recent run's workflow, newest first; runs whose history is gone say NOT_FOUND. */
async function runStatuses(temporal: Client, schedule: ScheduleStatus): Promise<ScheduleFacts['runs']> {
  const newestFirst = [...schedule.recentRuns].sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
  return Promise.all(
    newestFirst.map(async ({ workflowId }) => {
      try {
        return { workflowId, status: (await temporal.workflow.getHandle(workflowId).describe()).status.name };
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return { workflowId, status: 'NOT_FOUND' };
        throw error;
      }
    }),
  );
}
