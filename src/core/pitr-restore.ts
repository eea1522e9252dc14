import { BackupError, configError } from './errors.js';
import type { PhysicalBackup, StanzaInfo } from './pitr-backup.js';
import type { RestoreRequest } from './restore/request.js';

// Restores to a moment (docs/pitr.md), the pure part: which base backup a moment needs (of what
// `pgbackrest info` says, parsed in pitr-backup.ts), and the plan an approver reads. Workflows import it: no Node modules.

/** A restore request with a moment (`backupctl restore --to T`), instead of a logical backup. */
export interface PitrRestoreRequest extends Omit<RestoreRequest, 'source'> {
  /** ISO moment; the end of the archive when left out. */
  to?: string;
  /** The whole cluster, into its own data directory (PITR_PG_DATA), with the server stopped. */
  cluster?: boolean;
}

/**
 * The base backup for a moment: the newest that ended before it (recovery starts where it ended).
 * Refuses a moment in the future, and one before the oldest backup ended, with the range it can do.
 */
export function baseBackupFor(info: StanzaInfo, to: string | undefined, now: string): PhysicalBackup {
  const ordered = [...info.backups].sort((a, b) => a.stoppedAt.localeCompare(b.stoppedAt));
  if (ordered.length === 0) {
    throw new BackupError(
      'RestoreFailed',
      'no physical backup in the repository yet: nothing to recover from',
      {
        retryable: false,
        hint: 'take one first (pgbackrest backup, or wait for the physical backup schedule)',
      },
    );
  }
  if (to === undefined) return ordered.at(-1)!;
  const moment = Date.parse(to);
  if (moment > Date.parse(now)) {
    throw configError(`--to: ${to} is in the future (now ${now})`, 'give a moment that has passed');
  }
  const base = ordered.filter((b) => Date.parse(b.stoppedAt) <= moment).at(-1);
  if (!base) {
    throw configError(
      `--to: ${to} is before the oldest physical backup ended (${ordered[0]!.stoppedAt}); the earliest moment to recover to is then`,
      'restore an older logical backup instead (backupctl list), or choose a later moment',
    );
  }
  return base;
}

/** Checks --to is a moment with its zone, and gives it as ISO. */
export function momentOf(text: string): string {
  // "2026-12-07 14:03:00+00" as ISO 8601: a T, and the zone's minutes.
  const iso = text
    .trim()
    .replace(/^(\d{4}-\d{2}-\d{2}) /, '$1T')
    .replace(/([+-]\d{2})$/, '$1:00');
  const parsed = Date.parse(iso);
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) || Number.isNaN(parsed)) {
    throw configError(`--to: "${text}" is not a moment with its time zone, such as "2026-12-07 14:03:00+00"`);
  }
  return new Date(parsed).toISOString();
}

export interface PitrTableInScope {
  schema: string;
  table: string;
  /** Whether the target has it now: it is replaced (dropped and restored) when it does. */
  exists: boolean;
}

/** What a restore to a moment will do, published before anything is touched. */
export interface PitrRestorePlan {
  /** The moment (ISO), or undefined for the end of the archive. */
  to?: string;
  scope: 'database' | 'tables' | 'cluster';
  base: PhysicalBackup;
  /** WAL replayed: from the base backup's first segment to the newest archived one. */
  wal: { from: string; to: string };
  /** A rough figure, from the backup's size and the WAL to replay. */
  expectedSeconds: number;
  /** The database copied out of the scratch server (DB_NAME of this configuration). */
  source: string;
  target: { host: string; port: number; database: string; exists: boolean; create: boolean };
  tables: PitrTableInScope[];
  steps: string[];
}

/** Restore speed assumed for the estimate (pgBackRest restored 1.9 GB in 5.1 s here), and replay. */
const RESTORE_BYTES_PER_SECOND = 200 * 1024 * 1024;
const SECONDS_PER_SEGMENT = 0.2;
const STARTUP_SECONDS = 10;

export function segmentsBetween(from: string, to: string): number {
  const number = (segment: string) => {
    if (!/^[0-9A-F]{24}$/.test(segment)) return undefined;
    return parseInt(segment.slice(8, 16), 16) * 256 + parseInt(segment.slice(16, 24), 16);
  };
  const [a, b] = [number(from), number(to)];
  return a === undefined || b === undefined ? 0 : Math.max(0, b - a + 1);
}

export function pitrPlan(facts: {
  info: StanzaInfo;
  to?: string;
  now: string;
  scope: PitrRestorePlan['scope'];
  source: string;
  target: PitrRestorePlan['target'];
  tables: PitrTableInScope[];
}): PitrRestorePlan {
  const base = baseBackupFor(facts.info, facts.to, facts.now);
  const wal = { from: base.walStart, to: facts.info.archive?.max ?? base.walStop };
  const expectedSeconds = Math.round(
    STARTUP_SECONDS +
      base.databaseBytes / RESTORE_BYTES_PER_SECOND +
      segmentsBetween(wal.from, wal.to) * SECONDS_PER_SEGMENT,
  );
  const moment = facts.to ?? 'the end of the archive';
  const { target } = facts;
  const where = `"${target.database}" on ${target.host}:${target.port}`;
  const steps = [
    `pgbackrest restore --set=${base.label} --type=time --target="${moment}" into a scratch folder on the worker's host`,
    `start a scratch server there, replay WAL ${wal.from} to at most ${wal.to}, promote it at ${moment}`,
  ];
  if (facts.scope === 'database') {
    steps.push(
      `${target.create ? 'create' : 'use the empty'} database ${where}`,
      `pg_dump "${facts.source}" from the scratch server | pg_restore into ${where}`,
    );
  } else if (facts.scope === 'tables') {
    const names = facts.tables.map((t) => `${t.schema}.${t.table}`).join(', ');
    steps.push(`pg_dump --table of ${names} | pg_restore --clean --single-transaction into ${where}`);
  }
  steps.push('compare row counts with the scratch server, then stop it and remove its folder');
  return {
    to: facts.to,
    scope: facts.scope,
    base,
    wal,
    expectedSeconds,
    source: facts.source,
    target,
    tables: facts.tables,
    steps,
  };
}

/** "public.orders" or "orders" (public). */
export function qualifiedTable(name: string): { schema: string; table: string } {
  const parts = name.split('.');
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw configError(`--table: "${name}" is not schema.table`);
  return parts.length === 2
    ? { schema: parts[0]!, table: parts[1]! }
    : { schema: 'public', table: parts[0]! };
}
