import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  hasPollers,
  startBackup,
  waitForBackup,
  waitForRestore,
} from '../../src/client/index.js';
import { loadConfig } from '../../src/config/index.js';
import {
  hostBackupTaskQueueName,
  hostRestoreTaskQueueName,
  hostTaskQueueName,
  restoreTaskQueueName,
} from '../../src/temporal/names.js';
import { CLI, backupctl, programBaseEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';

// "Scaling past one machine": two workers on one Temporal server and one TEMPORAL_TASK_QUEUE, as two
// processes (two hosts): a backup worker with the public key alone and RESTORE_ENABLED=false, and a
// restore-capable worker with the private key. The run histories say which worker ran each step.

const source = uniqueName('qs_src');
const targets: string[] = [];
const PASSPHRASE = 'queue-split-passphrase-5d1f';
const queue = uniqueName('qs');
const BACKUP_HOST = 'backup-host';
const RESTORE_HOST = 'restore-host';

let keyring: TestKeyring;
let shared: Record<string, string>;
let client: Client;

interface WorkerProcess {
  name: string;
  process: ResultPromise;
  hostQueue: string;
  /** This host's queues: every step's but the bounded ones, the dumps' and the restores' heavy steps'. */
  hostQueues: string[];
  /** Temporal's default worker identity: <pid>@<host name>. */
  owns(identity: string): boolean;
}
const running: WorkerProcess[] = [];

/** `backupctl worker` as its own process, ready once it polls its host queue. */
async function startWorkerProcess(name: string, env: Record<string, string>): Promise<WorkerProcess> {
  const child = execa(process.execPath, [CLI, 'worker'], {
    env: { ...programBaseEnv(), ...env },
    extendEnv: false,
    reject: false,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const hostId = env.WORKER_HOST_ID!;
  const hostQueue = hostTaskQueueName(queue, hostId);
  const hostQueues = [
    hostQueue,
    hostBackupTaskQueueName(queue, hostId),
    hostRestoreTaskQueueName(queue, hostId),
  ];
  const owns = (id: string) => id.startsWith(`${child.pid}@`);
  const worker = { name, process: child, hostQueue, hostQueues, owns };
  running.push(worker);
  for (let tries = 0; !(await hasPollers(client, 'default', hostQueue)); tries += 1) {
    if (tries > 300 || child.exitCode !== null) throw new Error(`worker ${name} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}

async function stopWorker(worker: WorkerProcess): Promise<void> {
  worker.process.kill('SIGTERM');
  await worker.process;
  running.splice(running.indexOf(worker), 1);
}

interface ActivityRun {
  activity: string;
  taskQueue: string;
  /** Who started it; undefined while it is scheduled and no worker has taken it. */
  identity?: string;
}

/** Every activity of a run, from its history: scheduled on which queue, started by which worker. */
async function activityRuns(handle: WorkflowHandle): Promise<ActivityRun[]> {
  const { events } = await handle.fetchHistory();
  const runs = new Map<string, ActivityRun>();
  for (const event of events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      runs.set(String(event.eventId), {
        activity: scheduled.activityType!.name!,
        taskQueue: scheduled.taskQueue!.name!,
      });
    }
    const started = event.activityTaskStartedEventAttributes;
    if (started) runs.get(String(started.scheduledEventId))!.identity = started.identity!;
  }
  return [...runs.values()];
}

/** Which of our workers each activity ran on, by name. */
function ranOn(runs: ActivityRun[]): string[] {
  return runs.map(
    (run) => `${run.activity} ${running.find((w) => run.identity && w.owns(run.identity))?.name ?? 'nobody'}`,
  );
}

/**
 * The first step on the restore queue, every other step on the restore worker's own host queue, all
 * run by the restore worker; only the report at the end (metrics, webhook: no key) goes to the
 * shared queue, where either worker may take it.
 */
function expectRestoreStepsOnRestoreWorker(runs: ActivityRun[]): void {
  const [first, ...rest] = runs;
  expect(first).toMatchObject({ activity: 'resolveRestore', taskQueue: restoreTaskQueueName(queue) });
  const report = rest.filter((r) => r.taskQueue === queue);
  expect(report.map((r) => r.activity)).toEqual(['reportRun']);
  const onHost = rest.filter((r) => r.taskQueue !== queue);
  expect(onHost.every((r) => restoreWorker.hostQueues.includes(r.taskQueue))).toBe(true);
  // The heavy steps take the restore slots: fetch and decrypt, and the target's close to reopen.
  const heavy = ['fetchCheckDecrypt', 'restoreIntoTarget'];
  const bounded = hostRestoreTaskQueueName(queue, RESTORE_HOST);
  expect(onHost.filter((r) => heavy.includes(r.activity)).map((r) => r.taskQueue)).toEqual(
    expect.arrayContaining([bounded]),
  );
  expect(onHost.every((r) => heavy.includes(r.activity) === (r.taskQueue === bounded))).toBe(true);
  expect(ranOn([first!, ...onHost]).filter((line) => !line.endsWith(' restore'))).toEqual([]);
}

let backupWorker: WorkerProcess;
let restoreWorker: WorkerProcess;
let backupKey: string;
let waitingRestore: WorkflowHandle;
const newTarget = () => {
  const name = uniqueName('qs_dst');
  targets.push(name);
  return name;
};

beforeAll(async () => {
  await seedDatabase(source);
  keyring = await createKeyring('default', PASSPHRASE);
  const passphraseFile = join(tempDir('qs-secrets'), 'gpg_passphrase');
  writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  shared = testEnv({
    DB_NAME: source,
    TEMPORAL_TASK_QUEUE: queue,
    S3_PREFIX: `${queue}/`,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
  });
  client = await connectClient(loadConfig({ env: shared }).temporal);
  backupWorkerEnv = {
    ...shared,
    BACKUP_DIR: tempDir('qs-backup-host'),
    WORKER_HOST_ID: BACKUP_HOST,
    RESTORE_ENABLED: 'false',
  };
  restoreWorkerEnv = {
    ...shared,
    BACKUP_DIR: tempDir('qs-restore-host'),
    WORKER_HOST_ID: RESTORE_HOST,
    RESTORE_ENABLED: 'true',
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    GPG_PASSPHRASE_FILE: passphraseFile,
  };
});

let backupWorkerEnv: Record<string, string>;
let restoreWorkerEnv: Record<string, string>;

afterAll(async () => {
  for (const worker of [...running]) await stopWorker(worker);
  await client?.connection.close();
  for (const name of [source, ...targets]) await dropDatabase(name);
});

describe('task queues split between a backup worker and a restore-capable worker', () => {
  it('with only the backup worker, a backup runs on it', async () => {
    backupWorker = await startWorkerProcess('backup', backupWorkerEnv);
    expect(await hasPollers(client, 'default', restoreTaskQueueName(queue))).toBe(false);
    const handle = await startBackup(client, { database: source, taskQueue: queue });
    backupKey = (await waitForBackup(handle)).key;
    const runs = await activityRuns(handle);
    expect(ranOn(runs)).toContain('dumpVerifyEncrypt backup');
    expect(ranOn(runs).every((line) => line.endsWith(' backup'))).toBe(true);
  });

  it('with only the backup worker, a restore waits before its first step, and the CLI says why', async () => {
    const target = newTarget();
    const cli = await execa(
      process.execPath,
      [CLI, 'restore', '--s3-key', backupKey, '--target-db', target, '--create-db', '--force', '--wait'],
      {
        env: { ...programBaseEnv(), ...shared },
        extendEnv: false,
        reject: false,
        timeout: 10_000,
      },
    );
    expect(cli.timedOut).toBe(true);
    expect(cli.stderr).toContain(
      `warning: no worker polls ${queue}-restore; the restore waits until one does (backupctl worker with RESTORE_ENABLED=true)`,
    );
    const id = /^started (\S+)$/m.exec(String(cli.stderr))![1]!;
    waitingRestore = client.workflow.getHandle(id);
    expect((await waitingRestore.describe()).status.name).toBe('RUNNING');
    // Its first step waits on the restore queue, taken by nobody; nothing that decrypts is scheduled.
    expect(await activityRuns(waitingRestore)).toEqual([
      { activity: 'resolveRestore', taskQueue: restoreTaskQueueName(queue) },
    ]);
  });

  it('a restore-capable worker takes the waiting restore; every step of it runs there', async () => {
    restoreWorker = await startWorkerProcess('restore', restoreWorkerEnv);
    const result = await waitForRestore(waitingRestore);
    expect(result.status.state).toBe('completed');
    expect(await tableFingerprints(result.status.plan!.target.database)).toEqual(
      await tableFingerprints(source),
    );
    const runs = await activityRuns(waitingRestore);
    expect(runs.map((r) => r.activity)).toEqual(
      expect.arrayContaining(['resolveRestore', 'fetchCheckDecrypt', 'validateArchive', 'restoreIntoTarget']),
    );
    expectRestoreStepsOnRestoreWorker(runs);
  });

  it('with both workers, backups run on either, each on one host; restores only on the restore-capable one', async () => {
    const hostsUsed = new Set<string>();
    for (let i = 0; i < 3; i += 1) {
      const handle = await startBackup(client, { database: source, taskQueue: queue });
      await waitForBackup(handle);
      const runs = await activityRuns(handle);
      // planBackup picks the host; the steps that share its local files all run on that host's worker.
      const hostRuns = runs.filter((r) => r.taskQueue !== queue);
      const host = running.find((w) => w.hostQueues.includes(hostRuns[0]!.taskQueue))!;
      hostsUsed.add(host.name);
      expect(hostRuns.every((r) => host.hostQueues.includes(r.taskQueue) && host.owns(r.identity!))).toBe(
        true,
      );
      expect(runs.every((r) => backupWorker.owns(r.identity!) || restoreWorker.owns(r.identity!))).toBe(true);
    }
    expect(hostsUsed.size).toBeGreaterThanOrEqual(1);

    // The CLI sees the restore queue's pollers now (activity pollers only), and warns of nothing.
    expect(await hasPollers(client, 'default', restoreTaskQueueName(queue))).toBe(true);
    const target = newTarget();
    const cli = await backupctl(
      [
        'restore',
        '--s3-key',
        backupKey,
        '--target-db',
        target,
        '--create-db',
        '--dry-run',
        '--wait',
        '--json',
      ],
      shared,
    );
    expect(cli.stderr).not.toContain('warning');
    expect(cli.exitCode).toBe(0);
    const { workflowId, status } = JSON.parse(cli.stdout) as {
      workflowId: string;
      status: { state: string };
    };
    expect(status.state).toBe('dry-run-completed');
    const restore = client.workflow.getHandle(workflowId);
    const runs = await activityRuns(restore);
    expect(runs.map((r) => r.activity)).toContain('fetchCheckDecrypt');
    expectRestoreStepsOnRestoreWorker(runs);
  });
});
