#!/usr/bin/env node
// `npm run bench`: times, in one run and one after the other, on a generated database:
//   1. bare `pg_dump -Fc -Z<level>` to /dev/null (the floor),
//   2. our backup end to end (`backupctl backup --wait --json` against a worker started here),
//      with the worker's peak RSS,
//   3. the operations guide's sequence with the same settings: pg_dump -Fc to a file,
//      `gpg --encrypt`, `aws s3 cp` (Debian's awscli) to the same bucket,
// and prints a table, then, as its last line, one JSON object.
//
//   --size-gb N            database size (pg_database_size, GiB); default 1.5
//   --compression N        pg_dump level for all three; default: the product's default
//   --compression-table    also time bare pg_dump -Fc to a file at --levels (default 0,1,3,6,9)
//   --flat-check           also back up a small database (--flat-size-gb, default 0.2) and compare RSS
//   --skip-guide           leave out the guide's sequence (no awscli needed)
//   --skip-restore         leave out the restore comparison: bare `pg_restore -j2` from a local
//                          plaintext archive vs our restore of the same backup from S3
//   --drop                 drop the database of --size-gb (and of --flat-size-gb with --flat-check), exit
//
// Needs the services (scripts/services.sh up) and their variables in the environment;
// scripts/bench.sh does all of that. The generated database is kept for the next run.
import console from 'node:console';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { benchDatabaseName, dropDatabase, ensureBenchDatabase, settle } from './generate.mjs';
import { sampleRss, statusBytes } from './proc.mjs';
import { log, mib, round, seconds, timed } from './util.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const GIB = 2 ** 30;

const USAGE = `usage: npm run bench -- [--size-gb N] [--compression N] [--compression-table [--levels 0,1,3,6,9]]
                        [--flat-check [--flat-size-gb 0.2]] [--skip-guide] [--skip-restore] [--drop]`;

// ------------------------------------------------------------------------------------ setup

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'size-gb': { type: 'string', default: '1.5' },
      compression: { type: 'string' },
      'compression-table': { type: 'boolean', default: false },
      levels: { type: 'string', default: '0,1,3,6,9' },
      'flat-check': { type: 'boolean', default: false },
      'flat-size-gb': { type: 'string', default: '0.2' },
      'skip-guide': { type: 'boolean', default: false },
      'skip-restore': { type: 'boolean', default: false },
      drop: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const number = (name, text, min, max) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max || text.trim() === '')
      throw new Error(`--${name}: expected a number from ${min} to ${max}, got "${text}"`);
    return value;
  };
  const level = (name, text) => {
    if (!/^\d$/.test(text)) throw new Error(`--${name}: expected a level from 0 to 9, got "${text}"`);
    return Number(text);
  };
  return {
    help: values.help,
    sizeGb: number('size-gb', values['size-gb'], 0.01, 1000),
    compression: values.compression === undefined ? undefined : level('compression', values.compression),
    compressionTable: values['compression-table'],
    levels: values.levels.split(',').map((l) => level('levels', l.trim())),
    flatCheck: values['flat-check'],
    flatSizeGb: number('flat-size-gb', values['flat-size-gb'], 0.01, 1000),
    skipGuide: values['skip-guide'],
    skipRestore: values['skip-restore'],
    drop: values.drop,
  };
}

function requireEnv(name) {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run through scripts/bench.sh (it sources .run/services.env)`);
  return value;
}

function services() {
  return {
    pg: {
      host: process.env.DB_HOST || '127.0.0.1',
      port: Number(process.env.DB_PORT || 5432),
      user: process.env.DB_USER || 'postgres',
      password: process.env.DB_PASSWORD || undefined,
    },
    s3: {
      endpoint: requireEnv('S3_ENDPOINT'),
      bucket: requireEnv('S3_BUCKET'),
      region: process.env.S3_REGION || 'us-east-1',
      accessKey: requireEnv('S3_ACCESS_KEY'),
      secretKey: requireEnv('S3_SECRET_KEY'),
    },
  };
}

/**
 * The pg_dump level the bench compares at: the product's default when it is pg_dump's gzip; 6, the
 * old default, while the default is zstd (BACKUP_COMPRESSION), which this bench does not time yet:
 * its product run sets PG_DUMP_COMPRESSION, so both sides use pg_dump's gzip at one level.
 */
async function productDefaultCompression() {
  try {
    const { loadConfig } = await import(join(ROOT, 'dist/src/config/index.js'));
    const setting = loadConfig({ env: { DB_NAME: 'bench' } }).backup.compression;
    return setting.method === 'gzip' ? setting.level : 6;
  } catch (error) {
    log(`cannot read the product's default compression (${error.message}); using 6`);
    return 6;
  }
}

function libpqEnv(pgConfig) {
  return {
    PGHOST: pgConfig.host,
    PGPORT: String(pgConfig.port),
    PGUSER: pgConfig.user,
    ...(pgConfig.password ? { PGPASSWORD: pgConfig.password } : {}),
  };
}

// --------------------------------------------------------------------------- cleanup stack

const cleanups = [];
async function runCleanups() {
  while (cleanups.length > 0) {
    const [what, work] = cleanups.pop();
    try {
      await work();
    } catch (error) {
      log(`cleanup: ${what} failed: ${error.message}`);
    }
  }
}

// --------------------------------------------------------------------------------- S3 helpers

function s3Client(s3) {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Deletes every object and unfinished multipart upload under prefix, then the folder entry that
 * SeaweedFS keeps for it (and for each parent in alsoEmptyParents, when nothing else is left in
 * it); returns the object count.
 */
async function deletePrefix(s3, prefix, alsoEmptyParents = []) {
  const client = s3Client(s3);
  let removed = 0;
  try {
    let token;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: item.Key }));
        removed++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix }));
    for (const upload of uploads.Uploads ?? []) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: upload.Key, UploadId: upload.UploadId }),
      );
    }
    for (const folder of [prefix, ...alsoEmptyParents]) {
      const left = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: folder, MaxKeys: 2 }),
      );
      const others = (left.Contents ?? []).filter((item) => item.Key !== folder);
      if (others.length > 0 || (left.CommonPrefixes ?? []).length > 0) break;
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: folder })).catch(() => undefined);
    }
  } finally {
    client.destroy();
  }
  return removed;
}

// ------------------------------------------------------------------------------ measurements

/**
 * pg_dump -Fc to stdout, into /dev/null or a file: not --file, with which pg_dump fsyncs its output
 * (it refuses /dev/null) and the time would include the disk.
 */
async function bareDump(env, database, level, target = '/dev/null') {
  // The file descriptor itself goes to pg_dump: no byte passes through this process.
  const fd = openSync(target, 'w', 0o600);
  try {
    const [, ms] = await timed(() =>
      execa('pg_dump', ['--format=custom', `--compress=${level}`, database], {
        env,
        stdin: 'ignore',
        stdout: fd,
      }),
    );
    return ms;
  } finally {
    closeSync(fd);
  }
}

async function compressionTable(env, database, levels, folder) {
  const rows = [];
  for (const level of levels) {
    const file = join(folder, `level-${level}.dump`);
    const ms = await bareDump(env, database, level, file);
    const { size } = await stat(file);
    await rm(file, { force: true });
    rows.push({ level, seconds: seconds(ms), size_mb: mib(size) });
    log(`compression table: -Z${level}: ${seconds(ms)} s, ${mib(size)} MiB`);
  }
  return rows;
}

/** OpenPGP public-key algorithm ids, as gpg --with-colons prints them. */
const ALGORITHMS = { 1: 'rsa', 17: 'dsa', 19: 'ecdsa', 22: 'ed25519' };

async function makeGpgKey(folder) {
  const home = join(folder, 'gnupg');
  await mkdir(home, { mode: 0o700 });
  const env = { GNUPGHOME: home };
  cleanups.push(['stop gpg-agent', () => execa('gpgconf', ['--kill', 'all'], { env, reject: false })]);
  await execa(
    'gpg',
    [
      '--batch',
      '--quiet',
      '--passphrase',
      '',
      '--quick-gen-key',
      'Bench <bench@localhost>',
      'default',
      'default',
      'never',
    ],
    { env },
  );
  const { stdout: armored } = await execa('gpg', ['--batch', '--armor', '--export', 'bench@localhost'], {
    env,
  });
  const publicKeyFile = join(folder, 'bench-public.asc');
  await writeFile(publicKeyFile, armored);
  const { stdout: secret } = await execa(
    'gpg',
    [
      '--batch',
      '--pinentry-mode',
      'loopback',
      '--passphrase',
      '',
      '--armor',
      '--export-secret-keys',
      'bench@localhost',
    ],
    { env },
  );
  const privateKeyFile = join(folder, 'bench-private.asc');
  await writeFile(privateKeyFile, secret, { mode: 0o600 });
  const { stdout: listing } = await execa(
    'gpg',
    ['--batch', '--with-colons', '--list-keys', 'bench@localhost'],
    {
      env,
    },
  );
  const fingerprint = /^fpr:+([0-9A-F]+):/m.exec(listing)?.[1];
  const algorithm = /^pub:[^:]*:(\d+):(\d+):/m.exec(listing);
  if (!fingerprint) throw new Error('cannot read the fingerprint of the generated GnuPG key');
  return {
    home,
    publicKeyFile,
    privateKeyFile,
    fingerprint,
    algorithm: algorithm ? `${ALGORITHMS[algorithm[2]] ?? `algorithm ${algorithm[2]}/`}${algorithm[1]}` : '?',
  };
}

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

async function stopProcess(child, timeoutMs = 30_000) {
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
 */
async function ourBackup({ database, level, folder, key, s3, stamp }) {
  const backupDir = join(folder, `backups-${database}`);
  const prefix = `bench-${stamp}-${database}/`;
  const env = {
    ...process.env,
    DB_NAME: database,
    BACKUP_DIR: backupDir,
    BACKUP_ENV: 'development',
    GPG_PUBLIC_KEY_FILE: key.publicKeyFile,
    GPG_RECIPIENT: '',
    TEMPORAL_TASK_QUEUE: `durable-backup-bench-${stamp}-${database}`,
    S3_PREFIX: prefix,
    PG_DUMP_COMPRESSION: String(level),
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
  let result, ms, rss, lifetimePeak;
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
 * `backupctl worker` with env, logging to a file; resolves once it polls, and is stopped at cleanup.
 * Wrapped in an object: an execa process is a thenable, and returning it would wait for its exit.
 */
async function startBenchWorker(env, workerLog, what) {
  log(`${what}: starting a worker (log ${workerLog})`);
  const worker = execa('node', [CLI, 'worker'], {
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
async function bareRestore({ libpq, pgConfig, archive, database }) {
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
async function ourRestore({ backupEnv, key, objectKey, folder, target, pgConfig }) {
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

/** gpg --decrypt of our backup's local copy: the plaintext archive the bare restore reads. */
async function decryptedArchive(key, sealedPath, folder) {
  const archive = join(folder, 'plain.dump');
  await execa('gpg', ['--batch', '--yes', '--quiet', '--output', archive, '--decrypt', sealedPath], {
    env: { GNUPGHOME: key.home },
  });
  cleanups.push([`remove ${archive}`, () => rm(archive, { force: true })]);
  return archive;
}

/** The guide: pg_dump -Fc to a file, gpg --encrypt, aws s3 cp. Same level, same bucket. */
async function guideSequence({ database, level, folder, key, s3, stamp, libpq, aws }) {
  const dir = join(folder, 'guide');
  await mkdir(dir, { recursive: true });
  cleanups.push([`remove ${dir}`, () => rm(dir, { recursive: true, force: true })]);
  const dump = join(dir, `${database}.dump`);
  const sealed = `${dump}.gpg`;
  const objectKey = `bench-guide/${stamp}/${database}.dump.gpg`;
  cleanups.push([
    `delete s3://${s3.bucket}/bench-guide/${stamp}/`,
    async () =>
      log(
        `cleanup: deleted ${await deletePrefix(s3, `bench-guide/${stamp}/`, ['bench-guide/'])} objects under s3://${s3.bucket}/bench-guide/${stamp}/`,
      ),
  ]);
  // Path-style addressing for SeaweedFS; no ~/.aws files; credentials from the services' S3 keys.
  const awsConfig = join(folder, 'aws-config');
  await writeFile(awsConfig, '[default]\ns3 =\n  addressing_style = path\n');
  const awsEnv = {
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_DEFAULT_REGION: s3.region,
    AWS_CONFIG_FILE: awsConfig,
    AWS_SHARED_CREDENTIALS_FILE: join(folder, 'no-aws-credentials'),
    AWS_PAGER: '',
  };

  const steps = {};
  log('guide: pg_dump -Fc to a file');
  const [, total] = await timed(async () => {
    [, steps.pg_dump] = await timed(() =>
      execa('pg_dump', ['--format=custom', `--compress=${level}`, `--file=${dump}`, database], {
        env: libpq,
        stdin: 'ignore',
      }),
    );
    log('guide: gpg --encrypt');
    [, steps.gpg] = await timed(() =>
      execa(
        'gpg',
        [
          '--batch',
          '--yes',
          '--trust-model',
          'always',
          '--encrypt',
          '-r',
          key.fingerprint,
          '-o',
          sealed,
          dump,
        ],
        { env: { GNUPGHOME: key.home }, stdin: 'ignore' },
      ),
    );
    log('guide: aws s3 cp');
    [, steps.aws] = await timed(() =>
      execa(
        aws,
        [
          's3',
          'cp',
          sealed,
          `s3://${s3.bucket}/${objectKey}`,
          '--endpoint-url',
          s3.endpoint,
          '--only-show-errors',
        ],
        { env: awsEnv, stdin: 'ignore' },
      ),
    );
  });
  const sizes = { dump: (await stat(dump)).size, sealed: (await stat(sealed)).size };
  await rm(dir, { recursive: true, force: true });
  log(`guide: ${seconds(total)} s`);
  return { ms: total, steps, sizes };
}

// ----------------------------------------------------------------------------------- report

const pad = (text, width) => String(text).padEnd(width);
const num = (value, width = 9, digits = 1) =>
  (value === undefined ? '' : value.toFixed(digits)).padStart(width);

function printTable(title, rows) {
  console.log(title);
  for (const [label, s, ratio] of rows) {
    console.log(`  ${pad(label, 62)}${num(s)}${ratio === undefined ? '' : num(ratio, 12, 2)}`);
  }
}

// ------------------------------------------------------------------------------------- main

async function main() {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const env = services();
  const libpq = { ...libpqEnv(env.pg), PATH: process.env.PATH };

  if (options.drop) {
    const names = [benchDatabaseName(options.sizeGb)];
    if (options.flatCheck) names.push(benchDatabaseName(options.flatSizeGb));
    for (const name of names) {
      await dropDatabase(env.pg, name);
      log(`dropped database ${name} (if it existed)`);
    }
    return;
  }

  const benchStarted = Date.now();
  const level = options.compression ?? (await productDefaultCompression());
  const aws = process.env.BENCH_AWS_CLI || '/usr/bin/aws';
  if (!options.skipGuide && !existsSync(aws))
    throw new Error(`${aws} not found: install Debian's awscli (scripts/bench.sh does)`);
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: npm run build`);

  const database = benchDatabaseName(options.sizeGb);
  const databaseBytes = await ensureBenchDatabase(env.pg, database, options.sizeGb * GIB);
  let flatDatabase, flatBytes;
  if (options.flatCheck) {
    flatDatabase = benchDatabaseName(options.flatSizeGb);
    flatBytes = await ensureBenchDatabase(env.pg, flatDatabase, options.flatSizeGb * GIB);
  }

  const base = process.env.BENCH_TMPDIR || tmpdir();
  const folder = await mkdtemp(join(base, 'durable-backup-bench-'));
  cleanups.push([`remove ${folder}`, () => rm(folder, { recursive: true, force: true })]);
  const fs = await statfs(folder);
  const free = fs.bavail * fs.bsize;
  // Worst case: plaintext + sealed copy for ours, the same for the guide, and the bucket's copies
  // (SeaweedFS is on this disk too); a pg_dump archive is never larger than the database.
  if (free < 2 * databaseBytes) {
    throw new Error(
      `only ${mib(free)} MiB free under ${base}; need about ${mib(2 * databaseBytes)} MiB (set BENCH_TMPDIR)`,
    );
  }
  log(`work folder ${folder} (${(free / GIB).toFixed(1)} GiB free)`);

  const key = await makeGpgKey(folder);
  log(`GnuPG key ${key.fingerprint} (${key.algorithm}) in ${key.home}`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const pgDumpVersion = (await execa('pg_dump', ['--version'])).stdout.trim();

  // Warm-up: one uncompressed dump reads the whole database the way every measurement does, so
  // the first timed run does not pay for cold page cache.
  log(`warm-up: pg_dump -Fc -Z0 ${database} > /dev/null`);
  const warmupMs = await bareDump(libpq, database, 0);
  log(`warm-up: ${seconds(warmupMs)} s`);

  let table;
  if (options.compressionTable) table = await compressionTable(libpq, database, options.levels, folder);

  // Bare pg_dump before and after ours, and their mean as the baseline: on a shared machine the
  // speed drifts over minutes, and one measurement on one side would count that drift as ours.
  log(`bare: pg_dump -Fc -Z${level} ${database} > /dev/null`);
  const bareBeforeMs = await bareDump(libpq, database, level);
  log(`bare: ${seconds(bareBeforeMs)} s`);

  const ours = await ourBackup({ database, level, folder, key, s3: env.s3, stamp });

  log(`bare again: pg_dump -Fc -Z${level} ${database} > /dev/null`);
  const bareAfterMs = await bareDump(libpq, database, level);
  log(`bare again: ${seconds(bareAfterMs)} s`);
  const bareMs = (bareBeforeMs + bareAfterMs) / 2;

  let restore;
  if (!options.skipRestore) {
    // Bare before and after ours again, and their mean as the baseline, for the same reason.
    const archive = await decryptedArchive(key, ours.outcome.localPath, folder);
    const scratch = (suffix) => `${database}_restore_${suffix}`;
    log(`bare restore: pg_restore -j2 ${archive}`);
    const before = await bareRestore({ libpq, pgConfig: env.pg, archive, database: scratch('bare') });
    log(`bare restore: ${seconds(before)} s`);
    const ourRun = await ourRestore({
      backupEnv: ours.env,
      key,
      objectKey: `${ours.env.S3_PREFIX}${ours.outcome.key}`,
      folder,
      target: scratch('ours'),
      pgConfig: env.pg,
    });
    log(`bare restore again: pg_restore -j2 ${archive}`);
    const after = await bareRestore({ libpq, pgConfig: env.pg, archive, database: scratch('bare') });
    log(`bare restore again: ${seconds(after)} s`);
    await rm(archive, { force: true });
    restore = { bareMs: (before + after) / 2, before, after, ours: ourRun };
  }
  const guide = options.skipGuide
    ? undefined
    : await guideSequence({ database, level, folder, key, s3: env.s3, stamp, libpq, aws });

  let flat;
  if (flatDatabase) flat = await ourBackup({ database: flatDatabase, level, folder, key, s3: env.s3, stamp });

  await runCleanups();

  // ------------------------------------------------------------------------------ printing
  const o = ours.outcome;
  const d = o.durationsMs ?? {};
  // dump, verify and encrypt run over one stream, side by side: they overlap, the upload follows.
  const stepSum = Math.max(d.dump ?? 0, d.verify ?? 0, d.encrypt ?? 0) + (d.upload ?? 0);
  const backupRatio = ours.ms / bareMs;
  const guideRatio = guide && guide.ms / bareMs;
  console.log('');
  console.log(
    `durable-backup benchmark: database ${database}, ${(databaseBytes / GIB).toFixed(2)} GiB (pg_database_size), ` +
      `pg_dump -Fc -Z${level} (${pgDumpVersion}), ${cpus().length} CPUs`,
  );
  console.log(
    `archive ${mib(o.archiveBytes)} MiB, encrypted file ${mib(o.fileBytes)} MiB; key ${key.algorithm}; warm-up read ${seconds(warmupMs)} s`,
  );
  console.log('');
  const rows = [
    [`bare pg_dump -Fc -Z${level} to /dev/null (mean of before and after)`, seconds(bareMs), 1],
    [`  before our backup`, seconds(bareBeforeMs)],
    [`  after our backup`, seconds(bareAfterMs)],
    ['durable-backup: backupctl backup --wait --json (end to end)', seconds(ours.ms), backupRatio],
  ];
  for (const step of ['plan', 'dump', 'verify', 'encrypt', 'upload', 'manifest']) {
    if (d[step] !== undefined)
      rows.push([`  ${step} (step time; dump, verify, encrypt overlap)`, seconds(d[step])]);
  }
  rows.push(['  other: client, Temporal scheduling, manifest, ...', seconds(ours.ms - stepSum)]);
  if (guide) {
    rows.push([`guide: pg_dump -f, gpg --encrypt, aws s3 cp`, seconds(guide.ms), guideRatio]);
    rows.push([`  pg_dump -Fc -Z${level} -f FILE`, seconds(guide.steps.pg_dump)]);
    rows.push([
      `  gpg --encrypt (${mib(guide.sizes.dump)} -> ${mib(guide.sizes.sealed)} MiB)`,
      seconds(guide.steps.gpg),
    ]);
    rows.push(['  /usr/bin/aws s3 cp', seconds(guide.steps.aws)]);
  }
  printTable(`${pad('', 62)}  seconds  vs bare pg_dump`, rows);
  const restoreRatio = restore && restore.ours.ms / restore.bareMs;
  if (restore) {
    console.log('');
    const phases = restore.ours.outcome.status.phases;
    printTable(`${pad('', 62)}  seconds  vs bare pg_restore`, [
      ['bare pg_restore -j2 from a local plaintext archive (mean)', seconds(restore.bareMs), 1],
      ['  before our restore', seconds(restore.before)],
      ['  after our restore', seconds(restore.after)],
      [
        'durable-backup: backupctl restore --s3-key --force (end to end)',
        seconds(restore.ours.ms),
        restoreRatio,
      ],
      ...phases.map((p) => [`  ${p.phase}`, seconds(p.durationMs)]),
    ]);
    const drill = restore.ours.drill;
    console.log(
      `DR drill (backupctl drill: the newest backup into a scratch database, verified, dropped): ` +
        `RTO ${seconds(drill.rtoMs)} s, target ${seconds(drill.rtoTargetMs)} s, ${drill.withinTarget ? 'within' : 'OVER'} target`,
    );
  }
  if (guide)
    console.log(`  ${pad('durable-backup / guide', 62)}${num(undefined)}${num(ours.ms / guide.ms, 12, 2)}`);
  console.log('');
  const r = ours.rss;
  const children = Object.entries(r.children)
    .map(([name, bytes]) => `${name} ${mib(bytes)}`)
    .join(', ');
  console.log(
    `worker RSS (MiB): peak ${mib(r.lifetimePeak)} (VmHWM, whole life), ${mib(r.startupPeak)} at the end of startup, ` +
      `${mib(r.idle)} idle, ${mib(r.backupPeak)} peak during the backup (sampled every 200 ms)`,
  );
  if (children) console.log(`worker's child processes, peak RSS (MiB, sampled): ${children}`);
  if (flat) {
    console.log(
      `flat check: ${flatDatabase} (${(flatBytes / GIB).toFixed(2)} GiB): worker peak ${mib(flat.rss.lifetimePeak)} MiB, ` +
        `during the backup ${mib(flat.rss.backupPeak)} MiB; ${database}: ${mib(r.lifetimePeak)} / ${mib(r.backupPeak)} MiB`,
    );
  }
  if (table) {
    console.log('');
    console.log(`bare pg_dump -Fc to a file, ${database}:`);
    console.log('');
    console.log('| level | time (s) | size (MiB) |');
    console.log('| ----: | -------: | ---------: |');
    for (const row of table)
      console.log(`| ${row.level} | ${row.seconds.toFixed(1)} | ${row.size_mb.toFixed(1)} |`);
  }
  console.log('');
  const peakMb = mib(r.lifetimePeak);
  console.log(
    `targets: backup_ratio ${round(backupRatio)} ${backupRatio <= 1.15 ? '<=' : '>'} 1.15 ${backupRatio <= 1.15 ? 'ok' : 'MISSED'}; ` +
      `worker peak RSS ${peakMb} MiB ${peakMb <= 300 ? '<=' : '>'} 300 ${peakMb <= 300 ? 'ok' : 'MISSED'}; ` +
      (restore
        ? `restore_ratio ${round(restoreRatio)} ${restoreRatio <= 1.15 ? '<= 1.15 ok' : '> 1.15 MISSED'}; `
        : '') +
      `bench took ${Math.round((Date.now() - benchStarted) / 1000)} s`,
  );
  const json = {
    size_gb: options.sizeGb,
    database,
    database_bytes: databaseBytes,
    compression: level,
    bare_pg_dump_s: seconds(bareMs),
    bare_pg_dump_before_after_s: [seconds(bareBeforeMs), seconds(bareAfterMs)],
    backup_s: seconds(ours.ms),
    backup_ratio: round(backupRatio, 3),
    backup_steps_s: Object.fromEntries(Object.entries(d).map(([k, v]) => [k, seconds(v)])),
    archive_mb: mib(o.archiveBytes),
    file_mb: mib(o.fileBytes),
    guide_s: guide && seconds(guide.ms),
    guide_ratio: guide && round(guideRatio, 3),
    guide_steps_s: guide && Object.fromEntries(Object.entries(guide.steps).map(([k, v]) => [k, seconds(v)])),
    backup_vs_guide: guide && round(ours.ms / guide.ms, 3),
    worker_peak_rss_mb: peakMb,
    worker_backup_peak_rss_mb: mib(r.backupPeak),
    worker_idle_rss_mb: mib(r.idle),
    children_peak_rss_mb: Object.fromEntries(Object.entries(r.children).map(([k, v]) => [k, mib(v)])),
    flat_check: flat && {
      database: flatDatabase,
      database_bytes: flatBytes,
      worker_peak_rss_mb: mib(flat.rss.lifetimePeak),
      worker_backup_peak_rss_mb: mib(flat.rss.backupPeak),
      backup_s: seconds(flat.ms),
    },
    compression_table: table,
    bare_pg_restore_s: restore && seconds(restore.bareMs),
    bare_pg_restore_before_after_s: restore && [seconds(restore.before), seconds(restore.after)],
    restore_s: restore && seconds(restore.ours.ms),
    restore_ratio: restore && round(restoreRatio, 3),
    restore_phases_s:
      restore &&
      Object.fromEntries(restore.ours.outcome.status.phases.map((p) => [p.phase, seconds(p.durationMs)])),
    drill_rto_s: restore && seconds(restore.ours.drill.rtoMs),
    bench_s: Math.round((Date.now() - benchStarted) / 1000),
  };
  console.log(JSON.stringify(json));
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    runCleanups().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (error) {
  log(`FAILED: ${error.message}`);
  await runCleanups();
  process.exitCode = 1;
}
