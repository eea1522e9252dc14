import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup } from '../../src/client/index.js';
import { loadConfigs, type Config } from '../../src/config/index.js';
import { tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase, withClient } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

// Issue #20: a worker runs at most WORKER_MAX_CONCURRENT_BACKUPS dumps at once; the others wait in
// Temporal's task queue (scheduled, not started), and every backup of the wave completes.

interface Attempt {
  scheduled: number;
  started: number;
  closed: number;
}

/** When the run's dump step was scheduled, started and closed, from its history. */
async function dumpStep(handle: WorkflowHandle): Promise<Attempt> {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + e.eventTime!.nanos! / 1e6;
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dumpVerifyEncrypt',
  )!;
  const id = String(scheduled.eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id)!;
  const closed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id)!;
  return { scheduled: at(scheduled), started: at(started), closed: at(closed) };
}

describe('a worker bounded at one backup at a time', () => {
  const databases = [uniqueName('bound_a'), uniqueName('bound_b'), uniqueName('bound_c')];
  let configs: Config[];

  beforeAll(async () => {
    for (const database of databases) {
      await seedDatabase(database, 20);
      // Some MB that do not compress: each dump takes a moment, long enough to overlap if allowed.
      await withClient(database, (c) =>
        c.query(`CREATE TABLE noise AS SELECT g, decode(md5(random()::text) || md5(g::text), 'hex') AS b
                   FROM generate_series(1, 100000) g`),
      );
    }
    const configFile = join(tempDir('bounded'), 'backup.yaml');
    const lines = ['databases:', ...databases.map((d) => `  ${d}: {}`)];
    writeFileSync(configFile, lines.join('\n'));
    const env = testEnv({
      TEMPORAL_TASK_QUEUE: uniqueName('bounded'),
      BACKUP_DIR: tempDir('bounded-backups'),
      S3_PREFIX: `${uniqueName('bounded')}/`,
      WORKER_MAX_CONCURRENT_BACKUPS: '1',
    });
    configs = loadConfigs({ env, configFile });
  });

  afterAll(async () => {
    for (const database of databases) await dropDatabase(database);
  });

  it('runs the dumps one after the other, the others waiting in the queue, and completes them all', async () => {
    const attempts = await withWorker(configs, async (client) => {
      const taskQueue = configs[0]!.temporal.taskQueue;
      const handles = await Promise.all(
        databases.map((database) => startBackup(client, { database, taskQueue })),
      );
      const results = await Promise.all(handles.map((handle) => waitForBackup(handle)));
      expect(results.map((r) => r.database)).toEqual(databases);
      return Promise.all(handles.map(dumpStep));
    });
    const byStart = attempts.sort((a, b) => a.started - b.started);
    for (let i = 1; i < byStart.length; i++) {
      // Never two at once: each dump starts after the one before it closed...
      expect(byStart[i]!.started).toBeGreaterThanOrEqual(byStart[i - 1]!.closed);
    }
    // ...and the last one was scheduled while another ran: it waited in Temporal's queue.
    expect(byStart.at(-1)!.scheduled).toBeLessThan(byStart[0]!.closed);
  });
});
