import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  approveRestore,
  rejectRestore,
  restoreStatus,
  startRestore,
  waitForRestore,
  type BackupResult,
  type StartRestoreOptions,
} from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { RESTORE_PHASES, type RestoreStatus } from '../../src/core/restore/status.js';
import { startWorker } from '../../src/worker/index.js';
import { restoreStatusQuery } from '../../src/temporal/names.js';
import { backupctl } from '../helpers/cli.js';
import { failureOf } from '../helpers/errors.js';
import { startPasswordCluster } from '../helpers/password-cluster.js';
import { tempDir } from '../helpers/files.js';
import { type TestKeyring } from '../helpers/gpg.js';
import { seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { REPO_ROOT, uniqueName } from '../helpers/services.js';
import { decodedPayloads, recordHistory } from '../helpers/histories.js';
import { DB_PASSWORD, PASSPHRASE, restoreFixture } from '../helpers/restore-fixture.js';
import { workflowBundle } from '../helpers/temporal.js';

// Restores of one encrypted backup, through the real worker, dev server, SeaweedFS and gpg keys.

const { fixture, newTarget, seededTarget } = restoreFixture('rs');
const { source } = fixture;
let env: Record<string, string>;
let config: Config;
let client: Client;
let backup: BackupResult;
let keyring: TestKeyring;

// Runs after the fixture's own beforeAll, which fills it.
beforeAll(() => {
  ({ env, config, client, backup, keyring } = fixture);
});

function restore(options: Omit<StartRestoreOptions, 'database'>): Promise<WorkflowHandle> {
  return startRestore(client, { database: source, taskQueue: config.temporal.taskQueue, ...options });
}

/** Polls the status query until the restore waits for a human (or has ended). */
async function awaitState(handle: WorkflowHandle, state: RestoreStatus['state']): Promise<RestoreStatus> {
  for (let i = 0; i < 300; i += 1) {
    const status = await handle.query(restoreStatusQuery);
    if (status.state === state) return status;
    if (['completed', 'failed', 'rejected', 'dry-run-completed'].includes(status.state)) {
      throw new Error(`restore ended ${status.state} (${status.error}) before ${state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`restore never reached ${state}`);
}

describe('restore workflow', () => {
  it('restores from S3 into a new database after approval by signal; contents match the source', async () => {
    const target = newTarget();
    const handle = await restore({
      source: { s3Key: backup.key },
      target: { database: target },
      createDb: true,
    });
    const waiting = await awaitState(handle, 'awaiting-approval');
    expect(waiting.plan?.target).toMatchObject({ database: target, exists: false, create: true });
    expect(waiting.plan?.tables.map((t) => `${t.schema}.${t.table}`).sort()).toEqual([
      'billing.invoices',
      'odd schema.Mixed Case',
      'public.images',
      'public.users',
    ]);
    expect(waiting.plan?.backup.ageHours).toBeLessThan(1);

    // Someone not in RESTORE_APPROVERS is refused (the caller hears it), and the refusal is recorded.
    const refused = await failureOf(
      approveRestore(client, handle.workflowId, { by: 'mallory', reason: 'trust me' }),
    );
    expect(refused.kind).toBe('NotPermitted');
    expect(refused.message).toBe('refused: mallory is not in RESTORE_APPROVERS');
    const answer = await approveRestore(client, handle.workflowId, { by: 'alice', reason: 'DR test' });
    expect(answer).toEqual({ outcome: 'approved', approvedBy: ['alice'], needed: 1 });
    const result = await waitForRestore(handle);
    await recordHistory(handle, 'restore-approved');

    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(source));
    expect(result.status.state).toBe('completed');
    expect(result.status.decision).toMatchObject({ approved: true, by: 'alice', reason: 'DR test' });
    expect(result.status.refused).toEqual([
      expect.objectContaining({
        signal: 'approve',
        by: 'mallory',
        why: 'mallory is not in RESTORE_APPROVERS',
      }),
    ]);
    expect(result.status.phases.map((p) => p.phase)).toEqual([...RESTORE_PHASES]);
    expect(result.rtoMs).toBeGreaterThan(0);
    // The log is written; the download and the plaintext archive are gone.
    expect(readFileSync(result.logPath, 'utf8')).toMatch(/approved by alice/);
    expect(readdirSync(join(config.backup.dir, '.restore'))).toEqual([]);
    // The decision and its author are in the history.
    const history = JSON.stringify((await handle.fetchHistory()).events);
    const signals = decodedPayloads(history).filter((p) => p.includes('"by"'));
    expect(signals.map((p) => JSON.parse(p))).toEqual(
      expect.arrayContaining([
        { by: 'mallory', reason: 'trust me', decision: 'approve' },
        { by: 'alice', reason: 'DR test', decision: 'approve' },
      ]),
    );
    // No key material, passphrase or password reaches the history or the log.
    const everything = [history, ...decodedPayloads(history), readFileSync(result.logPath, 'utf8')].join(
      '\n',
    );
    expect(everything).not.toMatch(/PRIVATE KEY|BEGIN PGP/);
    for (const secret of [PASSPHRASE, DB_PASSWORD, config.s3!.secretAccessKey!]) {
      expect(everything).not.toContain(secret);
    }
    // Connections to the target are allowed again.
    const limit = await withClient('postgres', (c) =>
      c.query<{ l: number }>('SELECT datconnlimit AS l FROM pg_database WHERE datname = $1', [target]),
    );
    expect(limit.rows[0]!.l).toBe(-1);
  });

  it('rejection ends the restore with exit code 1 and leaves the target as it was', async () => {
    const { name: target, expectUnchanged } = await seededTarget();
    const handle = await restore({ source: { latest: true }, target: { database: target } });
    await awaitState(handle, 'awaiting-approval');
    await rejectRestore(client, handle.workflowId, { by: 'bob', reason: 'wrong backup' });
    const error = await failureOf(waitForRestore(handle));
    await recordHistory(handle, 'restore-rejected');
    expect(error.kind).toBe('NotApproved');
    expect(error.message).toMatch(/rejected by bob: wrong backup/);
    await expectUnchanged();
    expect((await restoreStatus(client, handle.workflowId)).status?.state).toBe('rejected');
  });

  it('fails with a clear reason when nobody approves in time, target untouched', async () => {
    const { name: target, expectUnchanged } = await seededTarget();
    const handle = await restore({
      source: { latest: true },
      target: { database: target },
      approvalTimeoutSeconds: 2,
    });
    const error = await failureOf(waitForRestore(handle));
    expect(error.kind).toBe('NotApproved');
    expect(error.message).toMatch(/nobody approved the restore within 2 s/);
    await expectUnchanged();
  });

  it('dry run stops after the plan: the target is not touched and no approval is asked', async () => {
    const { name: target, expectUnchanged } = await seededTarget();
    const handle = await restore({
      source: { s3Key: backup.key },
      target: { database: target },
      dryRun: true,
    });
    const result = await waitForRestore(handle);
    expect(result.status.state).toBe('dry-run-completed');
    expect(result.status.plan?.steps.join('\n')).toMatch(/pg_restore --clean --if-exists/);
    expect(result.status.plan?.tables.find((t) => t.table === 'users')?.currentBytes).toBeGreaterThan(0);
    await expectUnchanged();
  });

  it('--force restores a single table without approval and leaves the other tables untouched', async () => {
    const target = newTarget();
    await seedDatabase(target, 2_000);
    await withClient(target, (c) =>
      c.query(`UPDATE billing.invoices SET amount = 0; DELETE FROM public.images WHERE id % 2 = 0;
               ALTER TABLE billing.invoices DROP CONSTRAINT invoices_pkey; SELECT setval('billing.invoices_id_seq', 7)`),
    );
    const before = await tableFingerprints(target);
    const handle = await restore({
      source: { file: backup.localPath },
      target: { database: target },
      tables: ['invoices'],
      force: true,
    });
    const result = await waitForRestore(handle);
    expect(result.status.decision?.by).toBe('--force');
    expect(result.status.plan?.scope).toBe('partial');
    const after = await tableFingerprints(target);
    expect(after['billing.invoices']).toBe((await tableFingerprints(source))['billing.invoices']);
    expect(after['billing.invoices']).not.toBe(before['billing.invoices']);
    for (const other of ['public.images', 'public.users', 'odd schema.Mixed Case']) {
      expect(after[other]).toBe(before[other]);
    }
    // The table comes back whole: its primary key and its sequence too (pg_restore --table alone would not).
    expect(after['sequence billing.invoices_id_seq']).toBe('5000');
    const keys = await withClient(target, (c) =>
      c.query(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'billing.invoices'::regclass AND contype = 'p'",
      ),
    );
    expect(keys.rows).toEqual([{ conname: 'invoices_pkey' }]);
  });

  it('--use-list restores the entries an edited pg_restore --list keeps (through the CLI)', async () => {
    const target = newTarget();
    await seedDatabase(target, 2_000);
    await withClient(target, (c) =>
      c.query('UPDATE billing.invoices SET amount = 0; DELETE FROM public.users WHERE id > 1500'),
    );
    const before = await tableFingerprints(target);
    const plain = join(tempDir('plain'), 'backup.dump');
    await keyring.decrypt(backup.localPath, `${plain}.zst`);
    await execa('zstd', ['-q', '-d', `${plain}.zst`, '-o', plain]);
    const { stdout: toc } = await execa('pg_restore', ['--list', plain]);
    // The operator's edit: comment out everything but the invoices table and its sequence.
    const edited = toc
      .split('\n')
      .map((line) => (line.includes(' billing invoices') || line.startsWith(';') ? line : `;${line}`))
      .join('\n');
    const listFile = join(tempDir('list'), 'restore.list');
    writeFileSync(listFile, edited);
    const args = ['restore', '--file', backup.localPath, '--use-list', listFile, '--target-db', target];
    const run = await backupctl([...args, '--force', '--wait'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const after = await tableFingerprints(target);
    expect(after['billing.invoices']).toBe((await tableFingerprints(source))['billing.invoices']);
    expect(after['public.users']).toBe(before['public.users']);
  });

  it('refuses, at the plan, a partial restore of a table other tables point at', async () => {
    const { name: target, expectUnchanged } = await seededTarget();
    const handle = await restore({
      source: { latest: true },
      target: { database: target },
      tables: ['users'],
      force: true,
    });
    const error = await failureOf(waitForRestore(handle));
    expect(error.kind).toBe('Configuration');
    expect(error.message).toMatch(
      /public\.images has a foreign key \(images_user_id_fkey\) to public\.users/,
    );
    await expectUnchanged();
  });

  it('refuses a target that does not exist without --create-db, before touching anything', async () => {
    const error = await failureOf(
      waitForRestore(
        await restore({ source: { latest: true }, target: { database: uniqueName('absent') }, force: true }),
      ),
    );
    expect(error.kind).toBe('Configuration');
    expect(error.message).toMatch(/does not exist .*--create-db/);
  });

  it("approval works with Temporal's own CLI (temporal workflow signal), and backupctl status shows it", async () => {
    const target = newTarget();
    const handle = await restore({
      source: { s3Key: backup.key },
      target: { database: target },
      createDb: true,
    });
    await awaitState(handle, 'awaiting-approval');
    const status = await backupctl(['status', handle.workflowId], env);
    expect(status.stdout).toMatch(/state: awaiting-approval/);
    expect(status.stdout).toMatch(/public\.users: 2000 rows in the backup/);
    await execa(join(REPO_ROOT, '.tools/bin/temporal'), [
      'workflow',
      'signal',
      '--address',
      config.temporal.address,
      '--workflow-id',
      handle.workflowId,
      '--name',
      'approve',
      '--input',
      JSON.stringify({ by: 'bob', reason: 'via temporal CLI' }),
    ]);
    const result = await waitForRestore(handle);
    expect(result.status.decision?.by).toBe('bob');
    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(source));
  });

  it('scripts: restore --print-id prints only the id; status --wait waits for the end and exits with its code', async () => {
    const target = newTarget();
    const started = await backupctl(
      ['restore', '--s3-key', backup.key, '--target-db', target, '--create-db', '--print-id'],
      env,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^restore-\S+$/);
    await awaitState(client.workflow.getHandle(id), 'awaiting-approval');
    await backupctl(['reject', id, '--by', 'bob', '--reason', 'wrong backup'], env);
    const ended = await backupctl(['status', id, '--wait'], env);
    expect(ended.exitCode).toBe(1);
    expect(ended.stdout).toMatch(/rejected by bob at .*: wrong backup/);
    expect((await backupctl(['restore', '--latest', '--print-id', '--wait'], env)).exitCode).toBe(3);
  });
});

describe('RESTORE_VERIFY_SQL_FILE', () => {
  /** A worker of its own, whose configuration holds the checks (they are the worker's, not the caller's). */
  async function restoreWithChecks(sql: string) {
    const checks = join(tempDir('checks'), 'verify-data.sql');
    writeFileSync(checks, sql);
    const checkEnv = {
      ...env,
      RESTORE_VERIFY_SQL_FILE: checks,
      TEMPORAL_TASK_QUEUE: uniqueName('rs_checks'),
    };
    const checkWorker = await startWorker(loadConfig({ env: checkEnv }), {
      workflowBundle: await workflowBundle(),
    });
    try {
      const target = newTarget();
      const args = [
        'restore',
        '--s3-key',
        backup.key,
        '--target-db',
        target,
        '--create-db',
        '--force',
        '--wait',
      ];
      return await backupctl(args, checkEnv);
    } finally {
      await checkWorker.shutdown();
    }
  }

  it('runs the checks after the row counts; passing checks complete the restore', async () => {
    const run = await restoreWithChecks(
      "DO $$ BEGIN IF (SELECT count(*) FROM public.users) <> 2000 THEN RAISE EXCEPTION 'users lost'; END IF; END $$;",
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/SQL checks passed/);
  });

  it('a failing check fails the restore with exit 6 and says which', async () => {
    const run = await restoreWithChecks(
      "DO $$ BEGIN IF (SELECT count(*) FROM public.users) <> 1 THEN RAISE EXCEPTION 'expected one user'; END IF; END $$;",
    );
    expect(run.exitCode, run.stderr).toBe(6);
    expect(run.stderr).toMatch(/error: .*expected one user/);
  });
});

describe('restore into another server', () => {
  it('--target-host and --target-port, with DB_USER and DB_PASSWORD (PGPASSWORD, never an argument)', async () => {
    const cluster = await startPasswordCluster();
    const hostEnv = {
      ...env,
      DB_PASSWORD: cluster.password,
      TEMPORAL_TASK_QUEUE: uniqueName('rs_host'),
      // A server besides DB_HOST:DB_PORT: the worker must be told it may go there.
      RESTORE_TARGET_HOSTS: `localhost:${cluster.port}`,
    };
    const hostWorker = await startWorker(loadConfig({ env: hostEnv }), {
      workflowBundle: await workflowBundle(),
    });
    try {
      const args = [
        'restore',
        '--s3-key',
        backup.key,
        '--target-host',
        'localhost',
        '--target-port',
        String(cluster.port),
      ];
      const run = await backupctl(
        [...args, '--target-db', 'copy', '--create-db', '--force', '--wait'],
        hostEnv,
      );
      expect(run.exitCode, run.stderr).toBe(0);
      const server = { port: cluster.port, password: cluster.password };
      expect(await tableFingerprints('copy', server)).toEqual(await tableFingerprints(source));
    } finally {
      await hostWorker.shutdown();
      await cluster.stop();
    }
  });
});
