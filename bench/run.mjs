#!/usr/bin/env node
// `npm run bench`: times, in one run and one after the other, on a generated database:
//   1. the bare equivalent of the compression setting to /dev/null (the floor): pg_dump -Fc -Z<N>
//      for gzip and none, `pg_dump -Fc -Z0 | zstd -T2 -<L>` for zstd,
//   2. pgBackRest's full backup of the whole cluster (bench/pgbackrest.mjs),
//   3. our backup end to end (`backupctl backup --wait --json` against a worker started here),
//      with the worker's peak RSS,
//   1 and 2 again after ours (each baseline is the mean of before and after),
//   4. restores of our backup: bare `pg_restore -j2` of the local plaintext, the guide's manual
//      sequence from S3 (bench/guide.mjs), our `backupctl restore` from S3, and a DR drill,
//   5. the operations guide's backup sequence with the same setting: dump to a file,
//      `gpg --encrypt`, `aws s3 cp` (Debian's awscli) to the same bucket,
// and prints a table, then, as its last line, one JSON object.
//
//   --size-gb N            database size (pg_database_size, GiB); default 1.5
//   --compression C        N (pg_dump's level, 0-9), zstd[:L], gzip[:L] or none; the product is told
//                          through BACKUP_COMPRESSION (PG_DUMP_COMPRESSION=N for a build that reads
//                          only that); default: the product's default
//   --compression-table    also time bare pg_dump -Fc to a file at --levels (default 0,1,3,6,9)
//   --flat-check           also back up a small database (--flat-size-gb, default 0.2) and compare RSS
//   --skip-guide           leave out the guide's sequences (no awscli needed)
//   --skip-pgbackrest      leave out pgBackRest (no pgbackrest needed)
//   --skip-restore         leave out the restore comparisons
//   --drop                 drop the database of --size-gb (and of --flat-size-gb with --flat-check), exit
//   --databases N          the wave benchmark instead (bench/wave.mjs, issue #20): N databases of
//                          --db-size-mb (default 20) MiB in one config file, backed up one by one,
//                          then all at once on one worker, then on two; with --drop, drop them
//   --bound N              with --databases: the worker's WORKER_MAX_CONCURRENT_BACKUPS (default:
//                          the CPU count, the product's default); each of the two workers gets half
//
// Needs the services (scripts/services.sh up) and their variables in the environment;
// scripts/bench.sh does all of that. The generated database is kept for the next run.
import console from 'node:console';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { cleanups, runCleanups } from './cleanup.mjs';
import {
  bareDump,
  compressionTable,
  parseCompression,
  productCompressionEnv,
  productDefaultCompression,
} from './compression.mjs';
import { benchDatabaseName, dropDatabase, ensureBenchDatabase } from './generate.mjs';
import { decryptedArchive, makeGpgKey, makeSigningKey } from './gpg.mjs';
import { guideRestore, guideSequence } from './guide.mjs';
import { bareRestore, CLI, ourBackup, ourRestore } from './ours.mjs';
import { clusterBytes, setUpPgBackRest } from './pgbackrest.mjs';
import { report } from './report.mjs';
import { log, mib, seconds } from './util.mjs';
import { dropWaveDatabases, waveBench } from './wave.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GIB = 2 ** 30;

const USAGE = `usage: npm run bench -- [--size-gb N] [--compression N|zstd[:L]|gzip[:L]|none]
                        [--compression-table [--levels 0,1,3,6,9]] [--flat-check [--flat-size-gb 0.2]]
                        [--skip-guide] [--skip-pgbackrest] [--skip-restore] [--drop]
       npm run bench -- --databases N [--db-size-mb 20] [--bound N] [--drop]`;

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
      'skip-pgbackrest': { type: 'boolean', default: false },
      'skip-restore': { type: 'boolean', default: false },
      drop: { type: 'boolean', default: false },
      databases: { type: 'string' },
      'db-size-mb': { type: 'string', default: '20' },
      bound: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const number = (name, text, min, max) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max || text.trim() === '')
      throw new Error(`--${name}: expected a number from ${min} to ${max}, got "${text}"`);
    return value;
  };
  const whole = (name, text, min, max) => {
    if (!/^\d+$/.test(text.trim())) throw new Error(`--${name}: expected a whole number, got "${text}"`);
    return number(name, text, min, max);
  };
  const level = (name, text) => {
    if (!/^\d$/.test(text)) throw new Error(`--${name}: expected a level from 0 to 9, got "${text}"`);
    return Number(text);
  };
  return {
    help: values.help,
    sizeGb: number('size-gb', values['size-gb'], 0.01, 1000),
    compression: values.compression === undefined ? undefined : parseCompression(values.compression),
    compressionTable: values['compression-table'],
    levels: values.levels.split(',').map((l) => level('levels', l.trim())),
    flatCheck: values['flat-check'],
    flatSizeGb: number('flat-size-gb', values['flat-size-gb'], 0.01, 1000),
    skipGuide: values['skip-guide'],
    skipPgBackRest: values['skip-pgbackrest'],
    skipRestore: values['skip-restore'],
    drop: values.drop,
    databases: values.databases === undefined ? undefined : whole('databases', values.databases, 1, 500),
    dbSizeMb: number('db-size-mb', values['db-size-mb'], 1, 100_000),
    bound: values.bound === undefined ? undefined : whole('bound', values.bound, 1, 1000),
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

function libpqEnv(pgConfig) {
  return {
    PGHOST: pgConfig.host,
    PGPORT: String(pgConfig.port),
    PGUSER: pgConfig.user,
    ...(pgConfig.password ? { PGPASSWORD: pgConfig.password } : {}),
  };
}

/** Runs measure() before and after `between` (the baselines' way): [before, between's result, after]. */
async function around(measure, between) {
  const before = await measure('before');
  const result = await between();
  const after = await measure('after');
  return [before, result, after];
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

  if (options.databases !== undefined) {
    if (options.drop) {
      const dropped = await dropWaveDatabases(env.pg, options.dbSizeMb);
      log(
        `dropped ${dropped.length} databases${dropped.length ? ` (${dropped[0]} to ${dropped.at(-1)})` : ''}`,
      );
      return;
    }
    if (!existsSync(CLI)) throw new Error(`${CLI} not found: npm run build`);
    await waveBench({ options, services: env, root: ROOT });
    await runCleanups();
    return;
  }

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
  const compression = options.compression ?? (await productDefaultCompression(ROOT));
  const compressionEnv = productCompressionEnv(options.compression, ROOT);
  log(`compression ${compression.label}; the product is told ${JSON.stringify(compressionEnv)}`);
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
  key.signingKeyFile = await makeSigningKey(key, folder);
  log(`GnuPG key ${key.fingerprint} (${key.algorithm}) in ${key.home}`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const pgDumpVersion = (await execa('pg_dump', ['--version'])).stdout.trim();
  const pgbackrest = options.skipPgBackRest ? undefined : await setUpPgBackRest({ libpq, base });
  const cluster = await clusterBytes(libpq);

  // Warm-up: one uncompressed dump reads the whole database the way every measurement does, so
  // the first timed run does not pay for cold page cache.
  log(`warm-up: pg_dump -Fc -Z0 ${database} > /dev/null`);
  const warmupMs = await bareDump(libpq, database, parseCompression('none'));
  log(`warm-up: ${seconds(warmupMs)} s`);

  let table;
  if (options.compressionTable) table = await compressionTable(libpq, database, options.levels, folder);

  // The baselines before and after ours, and their mean: on a shared machine the speed drifts
  // over minutes, and one measurement on one side would count that drift as ours.
  const baselines = async (when) => {
    log(`bare ${when}: ${compression.label} dump of ${database} > /dev/null`);
    const bareMs = await bareDump(libpq, database, compression);
    log(`bare ${when}: ${seconds(bareMs)} s`);
    return { bareMs, pgbackrest: pgbackrest && (await pgbackrest.backup(`pgBackRest ${when}`)) };
  };
  const [before, ours, after] = await around(baselines, () =>
    ourBackup({ database, compressionEnv, folder, key, s3: env.s3, stamp }),
  );

  let restore;
  if (!options.skipRestore) {
    const objectKey = `${ours.env.S3_PREFIX}${ours.outcome.key}`;
    const zstd = objectKey.endsWith('.zst.gpg') || ours.outcome.compression?.method === 'zstd';
    const archive = await decryptedArchive(key, ours.outcome.localPath, folder, zstd);
    const scratch = (suffix) => `${database}_restore_${suffix}`;
    const restores = async (when) => {
      log(`bare restore ${when}: pg_restore -j2 ${archive}`);
      const bareMs = await bareRestore({ libpq, pgConfig: env.pg, archive, database: scratch('bare') });
      log(`bare restore ${when}: ${seconds(bareMs)} s`);
      if (options.skipGuide) return { bareMs };
      log(`guide restore ${when}: aws s3 cp, gpg --decrypt${zstd ? ', zstd -d' : ''}, pg_restore -j2`);
      const target = scratch('guide');
      const guide = await guideRestore({
        objectKey,
        zstd,
        folder,
        key,
        s3: env.s3,
        aws,
        libpq,
        pgConfig: env.pg,
        target,
      });
      log(`guide restore ${when}: ${seconds(guide.ms)} s`);
      return { bareMs, guide };
    };
    const [first, ourRun, second] = await around(restores, () =>
      ourRestore({ backupEnv: ours.env, key, objectKey, folder, target: scratch('ours'), pgConfig: env.pg }),
    );
    await rm(archive, { force: true });
    restore = { before: first, after: second, ours: ourRun, zstd };
  }
  const guide = options.skipGuide
    ? undefined
    : await guideSequence({ database, compression, folder, key, s3: env.s3, stamp, libpq, aws });

  let flat;
  if (flatDatabase)
    flat = await ourBackup({ database: flatDatabase, compressionEnv, folder, key, s3: env.s3, stamp });

  await runCleanups();

  const pgbackrestVersion = pgbackrest?.version;
  const measured = { before, after, ours, restore, guide, flat, flatDatabase, flatBytes, table };
  const about = { database, databaseBytes, cluster, compression, pgDumpVersion, pgbackrestVersion };
  report({ options, key, warmupMs, benchStarted, ...measured, ...about });
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
