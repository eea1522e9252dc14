import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, startRestore, waitForBackup, waitForRestore } from '../../src/client/index.js';
import { tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';
import { restoreTargets } from '../helpers/targets.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Issue #20: restores have WORKER_MAX_CONCURRENT_RESTORES slots of their own. With one, two restores
// take turns at their targets, and the one waiting has not closed its target yet; and a restore runs
// while a backup holds the only backup slot, with another backup waiting behind it.

const source = uniqueName('br_src');
const { names: targets, seededTarget } = restoreTargets('br_dst');
let testWorker: TestWorker | undefined;

interface Step {
  scheduled: number;
  started: number;
  closed: number;
}

/** When a run's completed activity of this type was scheduled, started and closed. */
async function step(handle: WorkflowHandle, activity: string): Promise<Step> {
  const events = (await handle.fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) => Number(e.eventTime!.seconds) * 1000 + e.eventTime!.nanos! / 1e6;
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity,
  );
  if (!scheduled) throw new Error(`${activity} was not scheduled`);
  const id = String(scheduled.eventId);
  const started = events.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === id);
  const closed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === id);
  return { scheduled: at(scheduled), started: at(started!), closed: at(closed!) };
}

// PendingActivityState: in the queue, no worker has taken it; taken by a worker.
const SCHEDULED = 1;
const STARTED = 2;

/** The state of a run's pending activity of this type, if it has one. */
async function pendingState(handle: WorkflowHandle, activity: string): Promise<number | undefined> {
  const { raw } = await handle.describe();
  const pending = (raw.pendingActivities ?? []).find((a) => a.activityType?.name === activity);
  return pending ? Number(pending.state) : undefined;
}

/** The connection limit of each target whose restoreIntoTarget is scheduled but not started yet. */
async function waitingTargets(handles: { handle: WorkflowHandle; target: string }[]) {
  const seen: { target: string; limit: number }[] = [];
  for (const { handle, target } of handles) {
    if ((await pendingState(handle, 'restoreIntoTarget')) !== SCHEDULED) continue;
    const { rows } = await withClient('postgres', (c) =>
      c.query<{ datconnlimit: number }>('SELECT datconnlimit FROM pg_database WHERE datname = $1', [target]),
    );
    seen.push({ target, limit: rows[0]!.datconnlimit });
  }
  return seen;
}

beforeAll(async () => {
  await seedDatabase(source);
  // Each restore's target step lasts 2 s at least: the other's is scheduled meanwhile.
  const verifySql = join(tempDir('br-sql'), 'verify.sql');
  writeFileSync(verifySql, 'SELECT pg_sleep(2);\n');
  testWorker = await startTestWorker('br', {
    DB_NAME: source,
    RESTORE_ALLOW_FORCE: 'true',
    RESTORE_VERIFY_SQL_FILE: verifySql,
    WORKER_MAX_CONCURRENT_BACKUPS: '1',
    WORKER_MAX_CONCURRENT_RESTORES: '1',
  });
});

afterAll(async () => {
  await testWorker?.stop();
  for (const name of [source, ...targets]) await dropDatabase(name);
});

describe('a worker bounded at one restore at a time', () => {
  it('runs two restores in turn, while a backup holds the only backup slot and another waits', async () => {
    const { client, config } = testWorker!;
    const taskQueue = config.temporal.taskQueue;
    await waitForBackup(await startBackup(client, { database: source, taskQueue }));
    const expected = await tableFingerprints(source);

    // A table locked in the source: the next backup's pg_dump waits on it, holding the backup slot.
    const locker = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: source });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE');
    const backups: WorkflowHandle[] = [];
    try {
      backups.push(await startBackup(client, { database: source, taskQueue }));
      // A second apart: two backups of one database started in the same second get the same name.
      await new Promise((r) => setTimeout(r, 1100));
      backups.push(await startBackup(client, { database: source, taskQueue }));
      await until(async () => (await sessionsWaitingOnTheLock()) > 0);

      const runs = await Promise.all(
        [await seededTarget(), await seededTarget()].map(async ({ name: target }) => ({
          target,
          handle: await startRestore(client, {
            database: source,
            taskQueue,
            source: { latest: true },
            target: { database: target },
            force: true,
          }),
        })),
      );
      const seen: { target: string; limit: number }[] = [];
      let done = false;
      const results = Promise.all(runs.map((r) => waitForRestore(r.handle))).finally(() => (done = true));
      while (!done) {
        seen.push(...(await waitingTargets(runs)));
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const result of await results) expect(result.status.state).toBe('completed');
      for (const { target } of runs) expect(await tableFingerprints(target)).toEqual(expected);

      // One target step after the other...
      const [first, second] = (await Promise.all(runs.map((r) => step(r.handle, 'restoreIntoTarget')))).sort(
        (a, b) => a.started - b.started,
      );
      expect(second!.started).toBeGreaterThanOrEqual(first!.closed);
      // ...the second scheduled while the first ran: it waited for the slot, its target open (-1).
      expect(second!.scheduled).toBeLessThan(first!.closed);
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((s) => s.limit === -1)).toBe(true);

      // All that while, the backup slot was held: the first backup's dump still waits on the lock.
      expect(await sessionsWaitingOnTheLock()).toBeGreaterThan(0);
      // (A running activity's start reaches the history when it closes: ask for the pending ones.)
      const dumps = await Promise.all(backups.map((b) => pendingState(b, 'dumpVerifyEncrypt')));
      expect(dumps.sort()).toEqual([SCHEDULED, STARTED]);
    } finally {
      await locker.query('ROLLBACK');
      await locker.end();
    }
    // Unlocked, both backups complete, one dump after the other.
    for (const backup of backups) await waitForBackup(backup);
  }, 180_000);
});

/** Sessions on this file's source that wait for a lock: the dump's (pg_dump, its row counts). */
async function sessionsWaitingOnTheLock(): Promise<number> {
  const { rows } = await withClient('postgres', (c) =>
    c.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
      [source],
    ),
  );
  return Number(rows[0]!.n);
}

async function until(check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
