// Our side of the benchmark: a worker of our own, our backup end to end (with the worker's RSS),
// our restore of it from S3 and a DR drill; and the bare `pg_restore -j2` floor.
import { readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { cleanups } from './cleanup.mjs';
import { withoutCompression } from './compression.mjs';
import { dropDatabase, settle } from './generate.mjs';
import { sampleCpu, sampleRss, statusBytes } from './proc.mjs';
import { deletePrefix } from './s3.mjs';
import { log, seconds, timed } from './util.mjs';

export const CLI = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'dist/src/cli/main.js');

async function waitForLine(file, text, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const content = await readFile(file, 'utf8').catch(() => '');
    if (content.includes(text)) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the worker exited during startup:\n${content.slice(-2000)}`);
    await sleep(200);
  }
  throw new Error(`the worker did not print "${text}" within ${timeoutMs / 1000} s`);
}

export async function stopProcess(child, timeoutMs = 30_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const exited = await Promise.race([
    child.then(
      () => true,
      () => true,
    ),
    sleep(timeoutMs).then(() => false),
  ]);
  if (!exited) {
    child.kill('SIGKILL');
    await child.catch(() => undefined);
  }
}

/**
 * Our backup of `database`, end to end: a worker of our own (own task queue, BACKUP_DIR and
 * S3_PREFIX) is started and ready first; the timer covers `backupctl backup --wait --json`.
 * compressionEnv: the compression variables for the product (none: its default).
 */
export async function ourBackup({ database, compressionEnv, folder, key, s3, stamp }) {
  const backupDir = join(folder, `backups-${database}`);
  const prefix = `bench-${stamp}-${database}/`;
  const env = {
    // The compression measured is the product's default or the bench's --compression, never
    // whatever the shell had set.
    ...withoutCompression(process.env),
    ...compressionEnv,
    DB_NAME: database,
    BACKUP_DIR: backupDir,
    BACKUP_ENV: 'development',
    GPG_PUBLIC_KEY_FILE: key.publicKeyFile,
    GPG_RECIPIENT: '',
    BACKUP_SIGNING_KEY_FILE: key.signingKeyFile,
    TEMPORAL_TASK_QUEUE: `durable-backup-bench-${stamp}-${database}`,
    S3_PREFIX: prefix,
    // Nothing to scrape here, and a worker of the developer's may hold the default ports.
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
  };
  const workerLog = join(folder, `worker-${database}.log`);
  cleanups.push([`remove ${backupDir}`, () => rm(backupDir, { recursive: true, force: true })]);
  cleanups.push([
    `delete s3://${s3.bucket}/${prefix}`,
    async () =>
      log(`cleanup: deleted ${await deletePrefix(s3, prefix)} objects under s3://${s3.bucket}/${prefix}`),
  ]);

  const { process: worker } = await startBenchWorker(env, workerLog, `our backup of ${database}`);
  await sleep(1000); // let the pollers settle before the baseline
  const idleRss = statusBytes(worker.pid, 'VmRSS') ?? 0;
  const startupPeak = statusBytes(worker.pid, 'VmHWM') ?? 0;

  log(`our backup of ${database}: backupctl backup --wait --json`);
  const sampler = sampleRss(worker.pid);
  const cpuSampler = sampleCpu(worker.pid, database);
  let result, ms, rss, lifetimePeak, cpu;
  try {
    [result, ms] = await timed(() =>
      execa('node', [CLI, 'backup', '--wait', '--json'], {
        env,
        extendEnv: false,
        stdin: 'ignore',
        reject: false,
      }),
    );
  } finally {
    rss = sampler.stop();
    cpu = cpuSampler.stop();
    lifetimePeak = statusBytes(worker.pid, 'VmHWM') ?? rss.peakRssBytes;
  }
  await stopProcess(worker);
  if (result.exitCode !== 0) {
    const tail = (await readFile(workerLog, 'utf8').catch(() => '')).slice(-3000);
    throw new Error(
      `backup failed (exit ${result.exitCode}):\n${result.stderr}\n${result.stdout}\n--- worker log ---\n${tail}`,
    );
  }
  const outcome = JSON.parse(result.stdout);
  log(`our backup of ${database}: ${seconds(ms)} s`);
  return {
    ms,
    env,
    outcome,
    cpu,
    rss: {
      lifetimePeak,
      startupPeak,
      idle: idleRss,
      backupPeak: rss.peakRssBytes,
      children: rss.childrenPeakRssBytes,
    },
  };
}

/**
 * `backupctl [args] worker` with env, logging to a file; resolves once it polls, and is stopped at
 * cleanup. Wrapped in an object: an execa process is a thenable, and returning it would wait for its exit.
 */
export async function startBenchWorker(env, workerLog, what, args = []) {
  log(`${what}: starting a worker (log ${workerLog})`);
  const worker = execa('node', [CLI, ...args, 'worker'], {
    env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: { file: workerLog },
    stderr: { file: workerLog },
    reject: false,
  });
  cleanups.push(['stop the worker', () => stopProcess(worker)]);
  await waitForLine(workerLog, 'worker polling', worker, 120_000);
  return { process: worker };
}

/** Bare `pg_restore -j2` of a plaintext archive into a new database: the floor of a restore. */
export async function bareRestore({ libpq, pgConfig, archive, database }) {
  await execa('createdb', [database], { env: libpq });
  cleanups.push([`drop ${database}`, () => dropDatabase(pgConfig, database)]);
  await settle(pgConfig);
  const [, ms] = await timed(() =>
    execa('pg_restore', ['--jobs=2', `--dbname=${database}`, archive], { env: libpq, stdin: 'ignore' }),
  );
  await dropDatabase(pgConfig, database);
  return ms;
}

/**
 * Our restore of the backup just taken, from S3, end to end (`backupctl restore --s3-key K --force
 * --wait`: fetch, check, decrypt, validate, plan, pg_restore -j2, verify) into a new database, by a
 * worker that holds the private key.
 */
export async function ourRestore({ backupEnv, key, objectKey, folder, target, pgConfig }) {
  const env = { ...backupEnv, GPG_PRIVATE_KEY_FILE: key.privateKeyFile, RESTORE_JOBS: '2' };
  const { process: worker } = await startBenchWorker(env, join(folder, 'worker-restore.log'), 'our restore');
  cleanups.push([`drop ${target}`, () => dropDatabase(pgConfig, target)]);
  log(
    `our restore: backupctl restore --s3-key ${objectKey} --target-db ${target} --create-db --force --wait`,
  );
  await settle(pgConfig);
  const [result, ms] = await timed(() =>
    execa(
      'node',
      [
        CLI,
        'restore',
        '--s3-key',
        objectKey,
        '--target-db',
        target,
        '--create-db',
        '--force',
        '--wait',
        '--json',
      ],
      { env, extendEnv: false, stdin: 'ignore', reject: false },
    ),
  );
  await dropDatabase(pgConfig, target);
  if (result.exitCode !== 0) throw new Error(`restore failed (exit ${result.exitCode}):\n${result.stderr}`);
  log(`our restore: ${seconds(ms)} s`);
  // The DR drill of the same database: the RTO it reports is the one the product publishes.
  log('our drill: backupctl drill --wait --json');
  const drill = await execa('node', [CLI, 'drill', '--wait', '--json'], {
    env,
    extendEnv: false,
    stdin: 'ignore',
    reject: false,
  });
  await stopProcess(worker);
  if (drill.exitCode !== 0) throw new Error(`drill failed (exit ${drill.exitCode}):\n${drill.stderr}`);
  const { report } = JSON.parse(drill.stdout);
  log(`our drill: RTO ${seconds(report.rtoMs)} s`);
  return { ms, outcome: JSON.parse(result.stdout), drill: report };
}
