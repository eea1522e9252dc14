// `npm run bench -- --databases N [--db-size-mb M]` (issue #20): N databases of about M MB in one
// config file, served by one worker (`backupctl --config FILE worker`), then:
//   1. the N backups one by one (start, wait, next), the sum of their wall times;
//   2. the wave: the N backups started at once, as a schedule wave would, and waited for: wave wall
//      time, the most pg_dump processes of these databases seen at once (/proc, every 100 ms), the
//      worker's peak RSS, failures, and Temporal's queueing from the workflow histories (a backup's
//      start to its first activity's start; the dump step's scheduling to its start);
//   3. the same wave on two workers of the same WORKER_HOST_ID (so both poll the same host queues
//      and share BACKUP_DIR), each bounded at half, and how many dumps each ran.
// The databases are kept for the next run; `--drop` drops them.
import { writeFile, rm, mkdtemp } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { cleanups } from './cleanup.mjs';
import { withoutCompression } from './compression.mjs';
import { dropDatabase, ensureBenchDatabase } from './generate.mjs';
import { makeGpgKey, makeSigningKey } from './gpg.mjs';
import { startBenchWorker, stopProcess } from './ours.mjs';
import { samplePgDumps, sampleRss, statusBytes } from './proc.mjs';
import { deletePrefix } from './s3.mjs';
import { log, seconds, timed } from './util.mjs';
import { waveReport } from './wave-report.mjs';

const MIB = 2 ** 20;
/** The activity that runs pg_dump (with its verification and encryption, over one stream). */
const DUMP_ACTIVITY = 'dumpVerifyEncrypt';

const namePrefix = (sizeMb) => `bench_wave_${String(sizeMb).replace(/[^0-9]+/g, '_')}mb_`;
export const waveDatabaseNames = (count, sizeMb) =>
  Array.from({ length: count }, (_, i) => `${namePrefix(sizeMb)}${String(i + 1).padStart(2, '0')}`);

/** Drops every database of the wave bench of this size, whatever the count it was made with. */
export async function dropWaveDatabases(connection, sizeMb) {
  const client = new pg.Client({ ...connection, database: 'postgres' });
  await client.connect();
  let names;
  try {
    const { rows } = await client.query(
      `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname`,
      [namePrefix(sizeMb)],
    );
    names = rows.map((row) => row.datname);
  } finally {
    await client.end();
  }
  for (const name of names) await dropDatabase(connection, name);
  return names;
}

// The product's client and configuration, as built by `npm run build`.
const productModule = (root, path) => import(join(root, 'dist/src', path));

function configFileText(databases, defaults) {
  // JSON strings are YAML strings: no quoting rules to get wrong.
  const lines = ['defaults:'];
  for (const [name, value] of Object.entries(defaults)) lines.push(`  ${name}: ${JSON.stringify(value)}`);
  lines.push('databases:', ...databases.map((database) => `  ${database}: {}`));
  return `${lines.join('\n')}\n`;
}

const at = (event) => Number(event.eventTime.seconds) * 1000 + Number(event.eventTime.nanos ?? 0) / 1e6;

/**
 * From a backup's history: its start to its first activity's start, the dump step's wait in the
 * queue (scheduled to started) and the identity of the worker that ran the dump.
 */
export function queueing(events) {
  const started = events.find((e) => e.workflowExecutionStartedEventAttributes);
  const activityStarts = events.filter((e) => e.activityTaskStartedEventAttributes);
  const dump = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === DUMP_ACTIVITY,
  );
  const dumpStart =
    dump &&
    events.find(
      (e) =>
        String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(dump.eventId ?? ''),
    );
  return {
    toFirstActivityMs:
      started && activityStarts.length > 0 ? Math.min(...activityStarts.map(at)) - at(started) : undefined,
    dumpWaitMs: dump && dumpStart ? at(dumpStart) - at(dump) : undefined,
    dumpIdentity: dumpStart?.activityTaskStartedEventAttributes.identity,
  };
}

/** Starts a worker on the config file; returns it with its pid. */
async function startWorker(env, configFile, folder, name) {
  const workerLog = join(folder, `worker-${name}.log`);
  const { process: worker } = await startBenchWorker(env, workerLog, `worker ${name}`, [
    '--config',
    configFile,
  ]);
  return { name, worker, pid: worker.pid };
}

/** The N backups one after the other; returns the sum of their wall times and the failures. */
async function oneByOne(client, product, databases, taskQueue, stamp) {
  let sumMs = 0;
  let failures = 0;
  for (const [i, database] of databases.entries()) {
    const [ok, ms] = await timed(async () => {
      const workflowId = `bench-wave-${stamp}-one-${database}`;
      const handle = await product.startBackup(client, { database, taskQueue, workflowId });
      return handle.result().then(
        () => true,
        (error) => {
          log(`one by one: ${database} failed: ${error.cause?.message ?? error.message}`);
          return false;
        },
      );
    });
    sumMs += ms;
    if (!ok) failures++;
    if ((i + 1) % 10 === 0 || i + 1 === databases.length)
      log(`one by one: ${i + 1}/${databases.length}, ${seconds(sumMs)} s so far`);
  }
  return { sumMs, failures };
}

/**
 * All backups started at once and waited for, with the pg_dump count and the workers' RSS sampled
 * meanwhile, then their histories read.
 */
async function wave(client, product, { databases, taskQueue, stamp, phase, workers }) {
  const dumps = samplePgDumps(databases);
  const rss = workers.map((w) => sampleRss(w.pid));
  let handles, outcomes, ms, pgDumps, peaks;
  try {
    [outcomes, ms] = await timed(async () => {
      handles = await Promise.all(
        databases.map((database) =>
          product.startBackup(client, {
            database,
            taskQueue,
            workflowId: `bench-wave-${stamp}-${phase}-${database}`,
          }),
        ),
      );
      return Promise.allSettled(handles.map((handle) => handle.result()));
    });
  } finally {
    pgDumps = dumps.stop();
    peaks = rss.map((sampler, i) => {
      const sampled = sampler.stop().peakRssBytes;
      return { name: workers[i].name, sampled, lifetime: statusBytes(workers[i].pid, 'VmHWM') ?? sampled };
    });
  }
  const failed = outcomes
    .map((outcome, i) => [outcome, databases[i]])
    .filter(([outcome]) => outcome.status === 'rejected');
  for (const [outcome, database] of failed.slice(0, 5))
    log(`${phase}: ${database} failed: ${outcome.reason?.cause?.message ?? outcome.reason?.message}`);
  const histories = [];
  for (const handle of handles) histories.push(queueing((await handle.fetchHistory()).events ?? []));
  const byWorker = {};
  for (const w of workers) byWorker[w.name] = 0;
  for (const { dumpIdentity } of histories) {
    const owner = workers.find((w) => dumpIdentity?.startsWith(`${w.pid}@`))?.name ?? dumpIdentity ?? '?';
    byWorker[owner] = (byWorker[owner] ?? 0) + 1;
  }
  log(`${phase}: ${seconds(ms)} s, ${failed.length} failed, at most ${pgDumps.most} pg_dump at once`);
  return { ms, failures: failed.length, pgDumps, peaks, histories, dumpsByWorker: byWorker };
}

/** The whole wave benchmark; `root` is the checkout (for dist/), `services` the bench's pg and s3. */
export async function waveBench({ options, services, root }) {
  const benchStarted = performance.now();
  const databases = waveDatabaseNames(options.databases, options.dbSizeMb);
  const [sizes, generationMs] = await timed(async () => {
    const bytes = [];
    for (const database of databases)
      bytes.push(await ensureBenchDatabase(services.pg, database, options.dbSizeMb * MIB));
    return bytes;
  });
  log(`${databases.length} databases ready in ${seconds(generationMs)} s`);

  const product = {
    ...(await productModule(root, 'client/index.js')),
    ...(await productModule(root, 'config/index.js')),
  };
  const folder = await mkdtemp(join(process.env.BENCH_TMPDIR || tmpdir(), 'durable-backup-wave-'));
  cleanups.push([`remove ${folder}`, () => rm(folder, { recursive: true, force: true })]);
  const key = await makeGpgKey(folder);
  key.signingKeyFile = await makeSigningKey(key, folder);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const prefix = `bench-wave-${stamp}/`;
  const taskQueue = `durable-backup-bench-wave-${stamp}`;
  cleanups.push([
    `delete s3://${services.s3.bucket}/${prefix}`,
    async () =>
      log(
        `cleanup: deleted ${await deletePrefix(services.s3, prefix)} objects under s3://${services.s3.bucket}/${prefix}`,
      ),
  ]);
  const configFile = join(folder, 'databases.yaml');
  await writeFile(
    configFile,
    configFileText(databases, {
      BACKUP_DIR: join(folder, 'backups'),
      S3_PREFIX: prefix,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BACKUP_ENV: 'development',
      GPG_PUBLIC_KEY_FILE: key.publicKeyFile,
      GPG_RECIPIENT: '',
      BACKUP_SIGNING_KEY_FILE: key.signingKeyFile,
    }),
  );
  log(`config file ${configFile}: ${databases.length} databases, task queue ${taskQueue}`);

  const bound = options.bound ?? availableParallelism();
  const half = Math.max(1, Math.floor(bound / 2));
  const workerEnv = (slots) => ({
    // The product's default compression, never whatever the shell had set.
    ...withoutCompression(process.env),
    // One host id for every worker: two workers then poll the same host queues, as two processes
    // on one database host would, and share BACKUP_DIR.
    WORKER_HOST_ID: `bench-wave-${stamp}`,
    WORKER_MAX_CONCURRENT_BACKUPS: String(slots),
    // As the systemd unit and the image run it (docs/scaling.md#memory); BENCH_WORKER_UNTUNED=1 leaves
    // them out, to compare. NODE_OPTIONS given to the bench (a sampler's --import) is kept.
    ...(process.env.BENCH_WORKER_UNTUNED
      ? {}
      : {
          MALLOC_ARENA_MAX: '2',
          NODE_OPTIONS: [process.env.NODE_OPTIONS, '--max-semi-space-size=2'].filter(Boolean).join(' '),
        }),
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
  });
  const [config] = product.loadConfigs({ configFile, env: workerEnv(bound) });
  const client = await product.connectClient(config.temporal);
  cleanups.push(['close the Temporal client', () => client.connection.close()]);

  // One worker: the backups one by one, then the wave.
  const one = await startWorker(workerEnv(bound), configFile, folder, 'single');
  await sleep(1000); // let the pollers settle
  const idleBytes = statusBytes(one.pid, 'VmRSS');
  log(`one by one: ${databases.length} backups on one worker bounded at ${bound}`);
  const sequentialRss = sampleRss(one.pid);
  let sequential, sequentialPeakBytes;
  try {
    sequential = await oneByOne(client, product, databases, taskQueue, stamp);
  } finally {
    sequentialPeakBytes = sequentialRss.stop().peakRssBytes;
  }
  log(`wave: ${databases.length} backups started at once on one worker bounded at ${bound}`);
  const single = await wave(client, product, { databases, taskQueue, stamp, phase: 'wave', workers: [one] });
  await stopProcess(one.worker);

  // Two workers of the same host id, each bounded at half.
  const pair = [];
  for (const name of ['A', 'B']) pair.push(await startWorker(workerEnv(half), configFile, folder, name));
  await sleep(1000);
  const pairIdleBytes = pair.map((w) => statusBytes(w.pid, 'VmRSS'));
  log(`two workers: ${databases.length} backups started at once, each worker bounded at ${half}`);
  const double = await wave(client, product, {
    databases,
    taskQueue,
    stamp,
    phase: 'two-workers',
    workers: pair,
  });
  for (const w of pair) await stopProcess(w.worker);

  waveReport({
    databases,
    sizes,
    generationMs,
    bound,
    half,
    sequential,
    single,
    double,
    idleBytes,
    sequentialPeakBytes,
    pairIdleBytes,
    load: loadavg(),
    untuned: Boolean(process.env.BENCH_WORKER_UNTUNED),
    benchMs: performance.now() - benchStarted,
  });
}
