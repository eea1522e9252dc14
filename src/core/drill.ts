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
  return `${scratchBase(database, suffix.length)}${suffix}`;
}

/** The database's part of a scratch name: what PostgreSQL keeps whole beside a suffix of that length. */
function scratchBase(database: string, suffixLength: number): string {
  return database.replace(/[^A-Za-z0-9_]+/g, '_').slice(0, MAX_IDENTIFIER_BYTES - suffixLength);
}

const SCRATCH_SUFFIX = /_drill_\d{8}_\d{6}_[A-Za-z0-9]+$/;

/**
 * Whether name is one scratchDatabaseName makes for this database: a drill may restore into it
 * unapproved (a new database only: the restore refuses an existing one, see checkForcedTarget).
 */
export function isScratchDatabaseOf(name: string, database: string): boolean {
  const suffix = SCRATCH_SUFFIX.exec(name)?.[0];
  return suffix !== undefined && name === `${scratchBase(database, suffix.length)}${suffix}`;
}

/** A drill meets its target only with a measured RTO; a failed restore measured none. */
export function withinTarget(rtoMs: number | undefined, rtoTargetMs: number): boolean {
  return rtoMs !== undefined && rtoMs <= rtoTargetMs;
}
