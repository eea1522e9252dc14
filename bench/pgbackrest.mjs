// pgBackRest as a baseline: what an operator might pick instead of us. A stanza of its own on the
// local cluster, with a posix repository in a temporary folder, and the settings of issue #18:
// zstd, AES-256 (a generated cipher pass), two processes. The shared cluster does not archive WAL
// (archive_mode off), so archive-check=n: the backup does not wait for WAL segments to reach a
// repository that will never see them, and start-fast=y: an immediate checkpoint at the start,
// not a wait for the next timed one. Such a backup is not restorable alone (its WAL is not in the
// repository): pgBackRest's work here is a little less than in production, not more.
// pgBackRest runs as the cluster's OS user (`postgres`), through runuser when we are root.
import { randomBytes } from 'node:crypto';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { execa } from 'execa';
import { cleanups } from './cleanup.mjs';
import { log, seconds, timed } from './util.mjs';

const STANZA = 'durable-backup-bench';

async function psql(libpq, sql) {
  return (await execa('psql', ['-X', '-At', '-d', 'postgres', '-c', sql], { env: libpq })).stdout.trim();
}

/** Sum of pg_database_size over every database of the cluster (what pgBackRest copies, less WAL and the catalogs outside databases). */
export async function clusterBytes(libpq) {
  return Number(await psql(libpq, 'SELECT sum(pg_database_size(datname))::bigint FROM pg_database'));
}

/** Apparent size of a folder (du -sb), as root or as its owner. */
async function folderBytes(folder) {
  return Number((await execa('du', ['-sb', folder])).stdout.split(/\s/)[0]);
}

/**
 * Creates the stanza; returns { version, backup() } where backup() times one
 * `pgbackrest backup --type=full` and returns { ms, bytes } (the repository's size after it).
 * Everything it made (stanza, repository, config, locks, logs) goes at cleanup.
 */
export async function setUpPgBackRest({ libpq, base }) {
  const version = (await execa('pgbackrest', ['version'], { reject: false })).stdout?.trim();
  if (!version)
    throw new Error(
      "pgbackrest not found: install Debian's pgbackrest (scripts/bench.sh does) or pass --skip-pgbackrest",
    );
  const user = 'postgres';
  const asRoot = process.getuid?.() === 0;
  if (!asRoot && process.env.USER !== user)
    throw new Error(
      `pgBackRest must run as ${user}: run the bench as root or as ${user}, or pass --skip-pgbackrest`,
    );
  const dataDirectory = await psql(libpq, 'SHOW data_directory');
  const socket = (await psql(libpq, 'SHOW unix_socket_directories')).split(',')[0].trim();

  const folder = await mkdtemp(join(base, 'durable-backup-pgbackrest-'));
  cleanups.push([`remove ${folder}`, () => rm(folder, { recursive: true, force: true })]);
  const repo = join(folder, 'repo');
  const config = join(folder, 'pgbackrest.conf');
  await mkdir(repo);
  await writeFile(
    config,
    [
      '[global]',
      `repo1-path=${repo}`,
      'repo1-type=posix',
      'repo1-cipher-type=aes-256-cbc',
      `repo1-cipher-pass=${randomBytes(32).toString('base64')}`,
      'repo1-retention-full=2',
      'compress-type=zst',
      'process-max=2',
      'archive-check=n',
      'start-fast=y',
      `lock-path=${join(folder, 'lock')}`,
      `log-path=${join(folder, 'log')}`,
      `spool-path=${join(folder, 'spool')}`,
      'log-level-console=warn',
      'log-level-file=off',
      '',
      `[${STANZA}]`,
      `pg1-path=${dataDirectory}`,
      `pg1-port=${libpq.PGPORT ?? 5432}`,
      `pg1-socket-path=${socket}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  if (asRoot) {
    const uid = Number((await execa('id', ['-u', user])).stdout);
    const gid = Number((await execa('id', ['-g', user])).stdout);
    for (const path of [folder, repo, config]) await chown(path, uid, gid);
  }
  const run = (...args) => {
    const command = ['pgbackrest', `--config=${config}`, `--stanza=${STANZA}`, ...args];
    return asRoot
      ? execa('runuser', ['-u', user, '--', ...command], { stdin: 'ignore' })
      : execa(command[0], command.slice(1), { stdin: 'ignore' });
  };

  await run('stanza-create');
  // stanza-delete refuses while PostgreSQL runs, unless --force; `stop` first, as it requires.
  cleanups.push([
    `pgbackrest stanza-delete ${STANZA}`,
    async () => {
      await run('stop');
      await run('stanza-delete', '--force');
    },
  ]);
  log(`pgBackRest: ${version}, stanza ${STANZA} on ${dataDirectory}, repository ${repo}`);

  return {
    version,
    async backup(what) {
      log(`${what}: pgbackrest backup --type=full`);
      const [, ms] = await timed(() => run('backup', '--type=full'));
      const bytes = await folderBytes(repo);
      log(`${what}: ${seconds(ms)} s, repository ${bytes} bytes`);
      return { ms, bytes };
    },
  };
}
