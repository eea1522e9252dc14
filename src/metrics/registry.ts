import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { secretsOf, type Config } from '../config/index.js';
import { ERROR_KINDS, isErrorKind } from '../core/errors.js';
import { RUN_KINDS, type RunOutcome } from '../core/outcome.js';
import { redact } from '../core/redact.js';
import type { Stores } from '../storage/index.js';
import { readDrillReports } from '../drill/reports.js';
import { CachedCatalog, SharedListings, readCatalogFacts, type CatalogFacts } from './catalog.js';
import { pitrReadWarning, pitrSourceOf, registerPitrGauges, type PitrSource } from './pitr.js';

type FactsGauge = Gauge<'database' | 'location'>;

/**
 * The operations guide's gauges (plus copies per location), read from the catalog at each scrape so
 * they survive a worker restart. Shared by the worker's /metrics and `backupctl metrics --textfile`.
 * `catalogs` may grow after this call: each scrape reads the databases it holds then.
 */
export function registerCatalogGauges(registry: Registry, catalogs: readonly CachedCatalog[]): void {
  const gauge = (
    name: string,
    help: string,
    fill: (gauge: FactsGauge, database: string, facts: CatalogFacts) => void,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: name === 'postgres_backup_copies' ? ['database', 'location'] : ['database'],
      registers: [registry],
      async collect() {
        const all = await Promise.all(catalogs.map(async (c) => [c.database, await c.facts()] as const));
        this.reset();
        for (const [database, facts] of all) if (facts) fill(this, database, facts);
      },
    });
  gauge(
    'postgres_backup_last_success_timestamp',
    'Completion time of the newest complete backup, Unix seconds (0 when there is none)',
    (g, database, f) => g.set({ database }, f.newest?.completedAtSeconds ?? 0),
  );
  gauge(
    'postgres_backup_size_bytes',
    'Size of the newest complete backup file in bytes',
    (g, database, f) => {
      if (f.newest) g.set({ database }, f.newest.fileBytes);
    },
  );
  gauge(
    'postgres_backup_count',
    'Complete backups (with their manifest), all places together',
    (g, database, f) => g.set({ database }, f.count),
  );
  gauge(
    'postgres_backup_copies',
    'Complete backups in each place (local: BACKUP_DIR, remote: the bucket)',
    (g, database, f) => {
      g.set({ database, location: 'local' }, f.copies.local);
      if (f.copies.remote !== undefined) g.set({ database, location: 'remote' }, f.copies.remote);
    },
  );
}

/** Runs take from seconds (a small database) to hours. */
const RUN_SECONDS_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200];

/** The metrics of one worker process: the catalog's gauges and what the runs it saw reported. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly catalogs: CachedCatalog[] = [];
  private readonly listings = new SharedListings();
  private readonly pitrSources: PitrSource[] = [];

  private readonly runSeconds = new Histogram({
    name: 'postgres_backup_run_duration_seconds',
    help: 'Duration of finished runs (backup, restore, retention, drill, reread), by result',
    labelNames: ['database', 'kind', 'result'],
    buckets: RUN_SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly runFailures = new Counter({
    name: 'postgres_backup_run_failures_total',
    help: 'Failed runs, by kind of run and error kind',
    labelNames: ['database', 'kind', 'error_kind'],
    registers: [this.registry],
  });
  private readonly uploadedBytes = new Counter({
    name: 'postgres_backup_uploaded_bytes_total',
    help: 'Bytes of backup files stored in the bucket',
    labelNames: ['database'],
    registers: [this.registry],
  });
  private readonly staleUploads = new Counter({
    name: 'postgres_backup_stale_uploads_total',
    help: 'Unfinished multipart uploads the retention sweep found (and aborted)',
    labelNames: ['database'],
    registers: [this.registry],
  });
  private readonly drillRtoSeconds = new Gauge({
    name: 'postgres_backup_drill_rto_seconds',
    help: 'RTO measured by the last successful DR drill',
    labelNames: ['database'],
    registers: [this.registry],
  });
  private readonly drillLastSuccess = new Gauge({
    name: 'postgres_backup_drill_last_success_timestamp',
    help: 'When the last successful DR drill ended, Unix seconds',
    labelNames: ['database'],
    registers: [this.registry],
  });
  private readonly drillMaxAgeSeconds = new Gauge({
    name: 'postgres_backup_drill_max_age_seconds',
    help: 'How old the last successful DR drill may be (DRILL_MAX_AGE_HOURS)',
    labelNames: ['database'],
    registers: [this.registry],
  });
  private readonly rtoTargetSeconds = new Gauge({
    name: 'postgres_backup_drill_rto_target_seconds',
    help: 'The RTO a drill must meet (RTO_TARGET_MINUTES)',
    labelNames: ['database'],
    registers: [this.registry],
  });

  /** warn: where a failure to read the catalog goes; the worker passes its logger's warn. */
  constructor(private readonly warn: (message: string) => void = (message) => console.error(message)) {
    registerCatalogGauges(this.registry, this.catalogs);
    registerPitrGauges(this.registry, this.pitrSources);
  }

  /** A database this worker backs up: its catalog gauges, its RTO target, and its counters at 0. */
  addDatabase(config: Config, stores: Stores): void {
    const database = config.database.name;
    const secrets = secretsOf(config);
    this.catalogs.push(
      new CachedCatalog(
        database,
        () => readCatalogFacts(config, stores, this.listings),
        (error) =>
          this.warn(`metrics: cannot list the backups of ${database}: ${redact(String(error), secrets)}`),
      ),
    );
    const pitr = pitrSourceOf(config, pitrReadWarning(config, this.warn));
    if (pitr) this.pitrSources.push(pitr);
    this.rtoTargetSeconds.set({ database }, config.monitoring.rtoTargetMinutes * 60);
    this.drillMaxAgeSeconds.set({ database }, config.monitoring.maxDrillAgeHours * 3600);
    // A series that appears with its first failure has no increase() to alert on: start every one at 0.
    for (const kind of RUN_KINDS)
      for (const errorKind of Object.keys(ERROR_KINDS))
        this.runFailures.inc({ database, kind, error_kind: errorKind }, 0);
    this.uploadedBytes.inc({ database }, 0);
    this.staleUploads.inc({ database }, 0);
    void this.recallLastDrill(database, config.backup.dir).catch((error: unknown) =>
      this.warn(`metrics: cannot read the drill reports of ${database}: ${redact(String(error), secrets)}`),
    );
  }

  private readonly drilledSinceStart = new Set<string>();

  /** A restarted worker still knows the last successful drill, from its report in BACKUP_DIR/reports. */
  private async recallLastDrill(database: string, backupDir: string): Promise<void> {
    const last = (await readDrillReports(backupDir)).find(
      (r) => r.report.ok && r.report.database === database,
    );
    if (!last || this.drilledSinceStart.has(database)) return;
    this.drillLastSuccess.set({ database }, Date.parse(last.report.finishedAt) / 1000);
    if (last.report.rtoMs !== undefined) this.drillRtoSeconds.set({ database }, last.report.rtoMs / 1000);
  }

  /** What a run reported at its end (the reportRun activity). */
  recordRun(outcome: RunOutcome): void {
    const { database, kind } = outcome;
    this.runSeconds.observe(
      { database, kind, result: outcome.ok ? 'success' : 'failure' },
      outcome.durationMs / 1000,
    );
    if (!outcome.ok) {
      // Error kinds are a closed set (bounded label values); anything else is General, as the CLI maps it.
      const errorKind = isErrorKind(outcome.errorKind) ? outcome.errorKind : 'General';
      this.runFailures.inc({ database, kind, error_kind: errorKind });
    }
    if (outcome.bytesUploaded) this.uploadedBytes.inc({ database }, outcome.bytesUploaded);
    if (outcome.staleUploads) this.staleUploads.inc({ database }, outcome.staleUploads);
    if (kind === 'drill' && outcome.ok) {
      this.drilledSinceStart.add(database);
      this.drillLastSuccess.set({ database }, Date.now() / 1000);
      if (outcome.rtoMs !== undefined) this.drillRtoSeconds.set({ database }, outcome.rtoMs / 1000);
    }
    if (kind === 'backup' || kind === 'retention')
      this.catalogs.find((c) => c.database === database)?.invalidate();
    if (kind === 'pitr-backup' || kind === 'retention')
      this.pitrSources.find((s) => s.database === database)?.backup.invalidate();
  }
}
