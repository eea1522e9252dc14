import { readdirSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBackupError } from '../../src/client/index.js';
import { BackupError } from '../../src/core/errors.js';
import { SCHEDULE_KINDS, applySchedules, scheduleId } from '../../src/schedules/index.js';
import { backupctl, expectOneLineError, type CliRun } from '../helpers/cli.js';
import { dropDatabase, seedDatabase, withClient } from '../helpers/postgres.js';
import { incompleteUploads, objectKeys } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { firstActionOf, startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Fault 6: two backups of one database started at once. One runs, the other is refused with a clear
// message, and PostgreSQL never sees two pg_dumps of the database at the same time.

const REFUSED = /^error: database ".+" at .+: another backup of it is running; this one is refused$/;

/**
 * Runs work while a session holds an exclusive lock on a table of the database: every pg_dump of it
 * waits (as a long dump would run), so the two backups surely overlap. Meanwhile pg_stat_activity is
 * sampled; returns the most pg_dumps of the database ever seen at once. release() lets the dumps go.
 */
async function withDumpsHeld(
  database: string,
  work: (release: () => Promise<void>) => Promise<void>,
): Promise<number> {
  let most = 0;
  let sampling = true;
  const sampler = withClient('postgres', async (c) => {
    while (sampling) {
      const { rows } = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'durable-backup pg_dump'`,
        [database],
      );
      most = Math.max(most, rows[0]!.n);
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  try {
    await withClient(database, async (c) => {
      await c.query('BEGIN');
      await c.query('LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE');
      await work(async () => {
        await c.query('COMMIT');
      });
      await c.query('ROLLBACK'); // a no-op once released; releases the lock if work failed first
    });
  } finally {
    sampling = false;
    await sampler;
  }
  return most;
}

/** The promise's value, or a failure naming what did not happen within 30 s (the dumps would wait for ever). */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within 30 s`)), 30_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once pg_dump of the database runs (waiting on the lock): the first backup is under way. */
async function dumpRunning(database: string): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    const { rows } = await withClient('postgres', (c) =>
      c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'durable-backup pg_dump'`,
        [database],
      ),
    );
    if (rows[0]!.n > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no pg_dump of ${database} started`);
}

describe('two backups of one database at once (fault 6)', () => {
  const database = uniqueName('fault_twice');
  let worker: TestWorker;

  beforeAll(async () => {
    await seedDatabase(database, 100);
    worker = await startTestWorker('fault-twice', { DB_NAME: database });
  });

  afterAll(async () => {
    await worker?.stop();
    await dropDatabase(database);
  });

  /** What a run left: exactly the complete backups, locally and in the bucket, and no unfinished upload. */
  async function expectOnlyCompleteBackups(count: number) {
    const local = readdirSync(worker.config.backup.dir).filter((f) => !f.startsWith('.'));
    expect(local.filter((f) => f.endsWith('.dump.zst')).length).toBe(count);
    expect(local.filter((f) => f.endsWith('.manifest.json')).length).toBe(count);
    expect(local.filter((f) => f.endsWith('.manifest.json.sig')).length).toBe(count);
    expect(local.length).toBe(3 * count);
    expect(readdirSync(`${worker.config.backup.dir}/.work`)).toEqual([]);
    expect((await objectKeys(worker.config)).sort()).toEqual(local.sort());
    expect(await incompleteUploads(worker.config)).toEqual([]);
  }

  it('backupctl backup twice: one backs up, the other is refused with exit code 4', async () => {
    let runs: CliRun[] = [];
    const most = await withDumpsHeld(database, async (release) => {
      const both = [backupctl(['backup', '--wait'], worker.env), backupctl(['backup', '--wait'], worker.env)];
      // The refused one ends while the other's pg_dump still waits on the lock.
      const refused = await within(Promise.race(both), 'neither backup was refused');
      expectOneLineError(refused, 4, REFUSED);
      await dumpRunning(database);
      await release();
      runs = await Promise.all(both);
    });
    expect(runs.map((r) => r.exitCode).sort()).toEqual([0, 4]);
    expect(most).toBe(1);
    await expectOnlyCompleteBackups(1);
  });

  it('a scheduled backup and backupctl backup: the one that comes second is refused', async () => {
    await applySchedules(worker.client, worker.config);
    const backupSchedule = scheduleId('backup', database);
    try {
      let cli: CliRun | undefined;
      let scheduled: unknown;
      const most = await withDumpsHeld(database, async (release) => {
        const trigger = await backupctl(['schedules', 'trigger', 'backup'], worker.env);
        expect(trigger.exitCode, trigger.stderr).toBe(0);
        const handle: WorkflowHandle = worker.client.workflow.getHandle(
          await firstActionOf(worker.client, backupSchedule),
        );
        const manual = backupctl(['backup', '--wait'], worker.env);
        const automatic = handle.result().then(
          () => undefined,
          (error: unknown) => toBackupError(error),
        );
        // Whichever took the lock first keeps it until released; the other ends refused meanwhile.
        await within(Promise.race([manual, automatic]), 'neither backup was refused');
        await dumpRunning(database);
        await release();
        [cli, scheduled] = await Promise.all([manual, automatic]);
      });
      expect(most).toBe(1);
      // One of the two succeeded, the other was refused, each with a clear outcome.
      if (cli!.exitCode === 0) {
        expect(scheduled).toBeInstanceOf(BackupError);
        expect((scheduled as BackupError).kind).toBe('AlreadyRunning');
        expect(`error: ${(scheduled as BackupError).message}`).toMatch(REFUSED);
      } else {
        expectOneLineError(cli!, 4, REFUSED);
        expect(scheduled).toBeUndefined();
      }
      await expectOnlyCompleteBackups(2); // the first test's and this one's
    } finally {
      await Promise.all(
        SCHEDULE_KINDS.map((kind) =>
          worker.client.schedule
            .getHandle(scheduleId(kind, database))
            .delete()
            .catch(() => undefined),
        ),
      );
    }
  });
});
