import { existsSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { Config } from '../config/index.js';
import { BackupError, configError } from '../core/errors.js';
import { stanzaPaths } from '../core/pitr.js';
import { pitrPlan, type PitrRestorePlan } from '../core/pitr-restore.js';
import { connect } from '../postgres/connection.js';
import { toolEnv } from '../process/env.js';
import { ownerIds, runPgBackRest, type PgBackRest } from './pgbackrest.js';
import { stanzaInfo } from './backup.js';
import { pgBin, pgTime } from './scratch.js';
import { postmasterPid } from './scratch-leftovers.js';

// `backupctl restore --cluster [--to T]` (docs/pitr.md#the-whole-cluster): pgBackRest restores into
// the cluster's own data directory (PITR_PG_DATA) on this host, with the server stopped, then the
// server is started and waited for until it accepts writes. Never over a running server.

export function clusterDataDir(config: Config): string {
  const dir = config.pitr?.pgData;
  if (!dir) {
    throw configError(
      'PITR_PG_DATA: restore --cluster needs the data directory on this host; set PITR_PG_DATA',
    );
  }
  return dir;
}

/** Refuses a data directory whose server runs: its postmaster.pid names a live process. */
export function checkServerStopped(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  if (!pid) return;
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    alive = (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (alive) {
    throw new BackupError(
      'NotPermitted',
      `restore --cluster: the server is running in ${dataDir} (pid ${pid}); a live data directory is never overwritten`,
      { hint: 'stop PostgreSQL first (pg_ctl stop, or systemctl stop), then start the restore again' },
    );
  }
}

export async function planCluster(
  config: Config,
  br: PgBackRest,
  to: string | undefined,
  now: string,
): Promise<PitrRestorePlan> {
  const dataDir = clusterDataDir(config);
  checkServerStopped(dataDir);
  const plan = pitrPlan({
    info: await stanzaInfo(br),
    to,
    now,
    scope: 'cluster',
    source: config.database.name,
    target: {
      host: config.database.host,
      port: config.database.port,
      database: dataDir,
      exists: true,
      create: false,
    },
    tables: [],
  });
  return {
    ...plan,
    steps: [
      `check no server runs in ${dataDir}`,
      `pgbackrest restore --delta --set=${plan.base.label}${to ? ` --type=time --target="${pgTime(to)}"` : ''} into ${dataDir}`,
      `start the server (pg_ctl), replay WAL ${plan.wal.from} to at most ${plan.wal.to}, promote it`,
      `wait until ${config.database.host}:${config.database.port} accepts writes`,
    ],
  };
}

export interface ClusterOutcome {
  restoreMs: number;
  recoveryMs: number;
  started: boolean;
}

/**
 * Restores the cluster's data directory and starts the server. A data directory without its own
 * postgresql.conf (Debian's /etc/postgresql) is left for the service manager to start.
 */
export async function restoreCluster(
  config: Config,
  br: PgBackRest,
  plan: PitrRestorePlan,
  options: { signal?: AbortSignal; progress?: (step: unknown) => void } = {},
): Promise<ClusterOutcome> {
  const dataDir = clusterDataDir(config);
  checkServerStopped(dataDir);
  const delta = existsSync(join(dataDir, 'PG_VERSION'));
  if (!existsSync(dataDir)) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const owner = await ownerIds(br.user);
    if (owner) await chown(dataDir, owner.uid, owner.gid);
  }
  const args = [...(delta ? ['--delta'] : []), `--set=${plan.base.label}`];
  if (plan.to) args.push('--type=time', `--target=${pgTime(plan.to)}`, '--target-action=promote');
  options.progress?.({ step: 'restoring' });
  const restoreStarted = Date.now();
  await runPgBackRest(br, 'restore', args, { signal: options.signal });
  const restoreMs = Date.now() - restoreStarted;
  if (!existsSync(join(dataDir, 'postgresql.conf'))) return { restoreMs, recoveryMs: 0, started: false };
  const recoveryStarted = Date.now();
  const pgCtl = await pgBin(dataDir, 'pg_ctl');
  const log = join(stanzaPaths(config.pitr!.configDir, br.stanza).stateDir, 'log', 'cluster-start.log');
  const line = [pgCtl, '-D', dataDir, '-l', log, '-W', 'start'];
  const [file, ...rest] =
    process.getuid?.() === 0 && br.user !== 'root' ? ['runuser', '-u', br.user, '--', ...line] : line;
  const started = await execa(file!, rest, { ...toolEnv(), cwd: '/', reject: false, stdin: 'ignore' });
  if (started.failed) {
    throw new BackupError(
      'RestoreFailed',
      `restore --cluster: the server did not start: ${String(started.stderr).trim().split('\n').pop()}`,
      {
        retryable: false,
        hint: `its log: ${log}`,
      },
    );
  }
  await waitForWrites(config, dataDir, log, options);
  return { restoreMs, recoveryMs: Date.now() - recoveryStarted, started: true };
}

async function waitForWrites(
  config: Config,
  dataDir: string,
  log: string,
  options: { signal?: AbortSignal; progress?: (step: unknown) => void },
): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (options.signal?.aborted)
      throw new BackupError('General', 'restore --cluster was cancelled', { retryable: true });
    const client = await connect({ ...config.database, name: 'postgres' }, 'RestoreFailed').catch(
      () => undefined,
    );
    if (client) {
      const recovering = await client
        .query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')
        .then((r) => r.rows[0]!.r)
        .catch(() => true)
        .finally(() => client.end().catch(() => undefined));
      if (!recovering) return;
    } else if (!postmasterPid(dataDir) && Date.now() - started > 5_000) {
      const fatal = (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => /FATAL|PANIC/.test(l))
        .pop();
      throw new BackupError(
        'RestoreFailed',
        `restore --cluster: the server ended during recovery: ${fatal?.replace(/^.*?(FATAL|PANIC):\s*/, '') ?? 'see its log'}`,
        {
          retryable: false,
          hint: `its log: ${log}`,
        },
      );
    }
    options.progress?.({ step: 'recovering', elapsedMs: Date.now() - started });
    await sleep(1_000);
  }
}
