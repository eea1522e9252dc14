import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/index.js';
import {
  backupAgeCheck,
  copiesCheck,
  drillCheck,
  failed,
  freeSpaceCheck,
  schedulesCheck,
  type CheckResult,
  type HealthCheck,
  type ScheduleFacts,
} from '../core/health.js';
import { physicalBackupCheck, walArchiveCheck, walArchiveMaxAgeSeconds } from '../core/pitr-health.js';
import { readArchiverFacts, readNewestPhysicalBackup } from '../pitr/facts.js';
import { DRILL_REPORT_PREFIX, REPORTS_FOLDER, type DrillReport } from '../core/outcome.js';
import type { Manifest } from '../core/manifest.js';
import { reconcileCopies, type DriftReport } from '../core/reconcile.js';
import { judgeCopy, trustPolicyOf } from '../crypto/signing.js';
import { listTrustedBackups } from '../storage/catalog.js';
import { openStores, storeList, type Stores } from '../storage/index.js';
import { collectCopies, messageOf, repairRemoteCopies, type RepairOutcome } from './reconcile.js';

// `backupctl health`, the I/O: gathers the facts of each check (stores, BACKUP_DIR, and the schedules'
// from Temporal through HealthOptions.scheduleFacts) and lets src/core/health.ts judge them. It
// connects to PostgreSQL only with PITR=pgbackrest (pg_stat_archiver, readable by any user). A check that cannot gather its facts fails on its
// own; the others still run.

export interface DatabaseHealth {
  database: string;
  checks: CheckResult[];
  /** Every drifting backup (the copies check names the first few); absent when the stores could not be read. */
  drift?: DriftReport;
  /** With --repair: what was uploaded again, before the checks ran. */
  repairs: RepairOutcome[];
}

export interface HealthOptions {
  /** A database's schedules and their recent runs (src/schedules/facts.ts); a rejection fails that check only. */
  scheduleFacts: (config: Config) => Promise<ScheduleFacts[]>;
  repair?: boolean;
  now?: Date;
}

/** The health of each database, one after the other. */
export async function checkHealth(configs: Config[], options: HealthOptions): Promise<DatabaseHealth[]> {
  const results: DatabaseHealth[] = [];
  for (const config of configs) results.push(await databaseHealth(config, options));
  return results;
}

async function databaseHealth(config: Config, options: HealthOptions): Promise<DatabaseHealth> {
  const now = options.now ?? new Date();
  const stores = openStores(config);
  const repairs = options.repair ? await repairRemoteCopies(config, stores) : [];
  const { maxDrillAgeHours, minFreeMb } = config.monitoring;
  const [catalog, others] = await Promise.all([
    catalogChecks(config, stores, now),
    Promise.all([
      guarded('disk-space', async () =>
        freeSpaceCheck(config.backup.dir, await freeBytes(config.backup.dir), minFreeMb),
      ),
      guarded('schedules', async () => schedulesCheck(await options.scheduleFacts(config))),
      guarded('drill', async () => drillCheck(await drillReports(config), maxDrillAgeHours, now)),
      ...pitrChecks(config, now),
    ]),
  ]);
  return {
    database: config.database.name,
    checks: [...catalog.checks, ...others],
    drift: catalog.drift,
    repairs,
  };
}

/** (a) and (b), from one listing of both stores; both fail, saying why, when a store cannot be read. */
async function catalogChecks(
  config: Config,
  stores: Stores,
  now: Date,
): Promise<{ checks: CheckResult[]; drift?: DriftReport }> {
  const withRemote = Boolean(stores.remote);
  try {
    const copies = await collectCopies(config, stores);
    const drift = reconcileCopies(copies, withRemote);
    const newest = await newestTrusted(config, stores, now);
    return {
      checks: [
        backupAgeCheck(newest, config.monitoring.maxBackupAgeHours, now),
        copiesCheck(drift, withRemote),
      ],
      drift,
    };
  } catch (error) {
    const reason = `cannot list the backups: ${messageOf(error)}`;
    return { checks: [failed('backup-age', reason), failed('copies', reason)] };
  }
}

/** The newest complete backup a restore would trust: a planted or forged one does not make a backup young. */
async function newestTrusted(config: Config, stores: Stores, now: Date): Promise<Manifest | undefined> {
  const policy = await trustPolicyOf(config);
  const { entries } = await listTrustedBackups(storeList(stores), (copy) => judgeCopy(copy, policy, now));
  return entries.find((e) => e.manifest.database === config.database.name)?.manifest;
}

/** With PITR=pgbackrest: is WAL archived (pg_stat_archiver), and is the newest physical backup young? */
function pitrChecks(config: Config, now: Date): Promise<CheckResult>[] {
  const { pitr } = config;
  if (!pitr) return [];
  const maxAge = walArchiveMaxAgeSeconds(pitr.archiveTimeoutSeconds);
  return [
    guarded('wal-archive', async () =>
      walArchiveCheck(await readArchiverFacts(config), now.getTime() / 1000, maxAge),
    ),
    guarded('physical-backup', async () =>
      physicalBackupCheck(await readNewestPhysicalBackup(config), config.monitoring.maxBackupAgeHours, now),
    ),
  ];
}

/** Runs a check; an error while gathering its facts fails that check only, with the error's message. */
async function guarded(check: HealthCheck, run: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await run();
  } catch (error) {
    return failed(check, messageOf(error));
  }
}

/** Bytes an unprivileged writer may still use (df's "Avail"), as the worker writes without root's reserve. */
async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${dir}: ${error.code === 'ENOENT' ? 'no such directory (BACKUP_DIR)' : error.message}`);
  });
  return fs.bavail * fs.bsize;
}

/** This database's drill reports in BACKUP_DIR/reports; none when the folder is not there yet. */
async function drillReports(config: Config): Promise<DrillReport[]> {
  const folder = join(config.backup.dir, REPORTS_FOLDER);
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const reports = await Promise.all(
    names
      .filter((name) => name.startsWith(DRILL_REPORT_PREFIX) && name.endsWith('.json'))
      .map((name) => readReport(join(folder, name))),
  );
  return reports.filter(
    (r): r is DrillReport => r?.database === config.database.name && typeof r.finishedAt === 'string',
  );
}

async function readReport(path: string): Promise<DrillReport | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DrillReport;
  } catch {
    // A report being written or damaged proves no drill; the others still count.
    return undefined;
  }
}
