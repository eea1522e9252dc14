import { formatStamp } from './naming.js';

// The DR drill's pure core: the name of the scratch database it restores into, and the RTO verdict.

/** PostgreSQL cuts longer identifiers (NAMEDATALEN - 1) without an error, which could hit DB_NAME. */
const MAX_IDENTIFIER_BYTES = 63;

/**
 * <DB_NAME>_drill_<YYYYMMDD_HHMMSS>_<run>: letters, digits and underscores only, the database's part
 * cut so that the whole fits in 63 bytes and the server keeps it as written. The run (see
 * drillRunTag) keeps apart two drills of one database started in the same second.
 */
export function scratchDatabaseName(
  database: string,
  startedAt: Date,
  timeZone: string,
  run: string,
): string {
  const suffix = `_drill_${formatStamp(startedAt, timeZone).replace('-', '_')}_${run}`;
  const base = database.replace(/[^A-Za-z0-9_]+/g, '_').slice(0, MAX_IDENTIFIER_BYTES - suffix.length);
  return `${base}${suffix}`;
}

/** Whether a database name is one scratchDatabaseName makes: a drill may restore into it unapproved. */
export function isScratchDatabaseName(name: string): boolean {
  return /_drill_\d{8}_\d{6}_[A-Za-z0-9]+$/.test(name);
}

/** A drill meets its target only with a measured RTO; a failed restore measured none. */
export function withinTarget(rtoMs: number | undefined, rtoTargetMs: number): boolean {
  return rtoMs !== undefined && rtoMs <= rtoTargetMs;
}
