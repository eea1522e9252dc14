import { Gauge, type Registry } from 'prom-client';
import { secretsOf, type Config } from '../config/index.js';
import type { PhysicalBackup } from '../core/pitr-backup.js';
import { walArchiveAgeSeconds, walArchiveMaxAgeSeconds, type ArchiverFacts } from '../core/pitr-health.js';
import { redact } from '../core/redact.js';
import { readArchiverFacts, readNewestPhysicalBackup } from '../pitr/facts.js';
import { CachedCatalog } from './catalog.js';

// PITR's gauges (PITR=pgbackrest only): the WAL archive's age and failures, from pg_stat_archiver, and
// the newest physical backup, from `pgbackrest info`. Read at each scrape through a short cache.

export interface PitrSource {
  database: string;
  maxAgeSeconds: number;
  archiver: CachedCatalog<ArchiverFacts>;
  backup: CachedCatalog<{ newest?: PhysicalBackup }>;
}

/** The sources of a database with PITR on; undefined with it off. onError gets each failed read. */
export function pitrSourceOf(config: Config, onError: (error: unknown) => void): PitrSource | undefined {
  if (!config.pitr) return undefined;
  const database = config.database.name;
  return {
    database,
    maxAgeSeconds: walArchiveMaxAgeSeconds(config.pitr.archiveTimeoutSeconds),
    // One query: fresh enough for an age measured in minutes.
    archiver: new CachedCatalog(database, () => readArchiverFacts(config), onError, 10_000),
    // A process as the cluster's user: once a minute at most.
    backup: new CachedCatalog(
      database,
      async () => ({ newest: await readNewestPhysicalBackup(config) }),
      onError,
    ),
  };
}

/** A warning for a failed read, without a secret. */
export function pitrReadWarning(config: Config, warn: (message: string) => void) {
  return (error: unknown) =>
    warn(
      `metrics: cannot read the WAL archive or physical backups of ${config.database.name}: ${redact(String(error), secretsOf(config))}`,
    );
}

/** `sources` may grow after this call: each scrape reads the databases it holds then. */
export function registerPitrGauges(registry: Registry, sources: readonly PitrSource[]): void {
  const gauge = (name: string, help: string, fill: (g: Gauge<'database'>, s: PitrSource) => Promise<void>) =>
    new Gauge({
      name,
      help,
      labelNames: ['database'],
      registers: [registry],
      async collect() {
        this.reset();
        await Promise.all(sources.map((source) => fill(this, source)));
      },
    });
  gauge(
    'postgres_backup_wal_archive_age_seconds',
    "Seconds since the newest WAL segment was archived (pg_stat_archiver's last_archived_time)",
    async (g, s) => {
      const facts = await s.archiver.facts();
      const age = facts && walArchiveAgeSeconds(facts, Date.now() / 1000);
      if (age !== undefined) g.set({ database: s.database }, age);
    },
  );
  gauge(
    'postgres_backup_wal_archive_failures',
    "Failed attempts to archive a WAL segment since the server's statistics were reset (pg_stat_archiver)",
    async (g, s) => {
      const facts = await s.archiver.facts();
      if (facts) g.set({ database: s.database }, facts.failedCount);
    },
  );
  gauge(
    'postgres_backup_wal_archive_max_age_seconds',
    'How old the newest archived WAL segment may be (5 archive timeouts, at least 300 s)',
    async (g, s) => g.set({ database: s.database }, s.maxAgeSeconds),
  );
  gauge(
    'postgres_backup_physical_last_success_timestamp',
    'When the newest physical (pgBackRest) backup stopped, Unix seconds (0 when there is none)',
    async (g, s) => {
      const facts = await s.backup.facts();
      if (facts)
        g.set({ database: s.database }, facts.newest ? Date.parse(facts.newest.stoppedAt) / 1000 : 0);
    },
  );
  gauge(
    'postgres_backup_physical_size_bytes',
    'Size in the repository of the newest physical backup with the backups it depends on',
    async (g, s) => {
      const newest = (await s.backup.facts())?.newest;
      if (newest) g.set({ database: s.database }, newest.repoBytes);
    },
  );
}
