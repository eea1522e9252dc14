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
import { isComplete, reconcileCopies, type BackupCopies, type DriftReport } from '../core/reconcile.js';
import type { BackupCopy } from '../storage/catalog.js';
import { openStores, type Stores } from '../storage/index.js';
import {
  CopyListings,
  collectCopies,
  messageOf,
  repairRemoteCopies,
  type RepairOutcome,
} from './reconcile.js';

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

/**
 * The health of each database, one after the other. Repairs first, all of them; then the checks,
 * which list each set of stores once for the databases kept there.
 */
export async function checkHealth(configs: Config[], options: HealthOptions): Promise<DatabaseHealth[]> {
  const repairs: RepairOutcome[][] = [];
  for (const config of configs)
    repairs.push(options.repair ? await repairRemoteCopies(config, openStores(config)) : []);
  const listings = new CopyListings();
  const results: DatabaseHealth[] = [];
  for (const [i, config] of configs.entries())
    results.push(await databaseHealth(config, options, listings, repairs[i]!));
  return results;
}

async function databaseHealth(
  config: Config,
  options: HealthOptions,
  listings: CopyListings,
  repairs: RepairOutcome[],
): Promise<DatabaseHealth> {
  const now = options.now ?? new Date();
  const stores = openStores(config);
  const { maxDrillAgeHours, minFreeMb } = config.monitoring;
  const [catalog, others] = await Promise.all([
    catalogChecks(config, stores, listings, now),
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
  listings: CopyListings,
  now: Date,
): Promise<{ checks: CheckResult[]; drift?: DriftReport }> {
  const withRemote = Boolean(stores.remote);
  try {
    const copies = await collectCopies(config, stores, listings, now);
    const drift = reconcileCopies(copies, withRemote);
    const newest = newestTrusted(copies);
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

/**
 * The newest complete backup a restore would trust (collectCopies judged each copy): a planted or
 * forged one does not make a backup young.
 */
function newestTrusted(copies: BackupCopies<BackupCopy>[]): Manifest | undefined {
  const trusted = copies
    .flatMap((c) => [c.local, c.remote])
    .filter((copy): copy is BackupCopy => isComplete(copy) && !copy.untrusted)
    .map((copy) => copy.manifest);
  return trusted.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
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
