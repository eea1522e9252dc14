import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Config, DatabaseConfig } from '../config/index.js';
import type { ToolPlace } from '../core/command.js';
import { BackupError } from '../core/errors.js';
import { pgRestoreArgs, type PgRestoreOptions } from '../core/restore/pg-restore-args.js';
import type { TableInScope } from '../core/restore/plan.js';
import type { RestoreRequest, RestoreTarget } from '../core/restore/request.js';
import { wholeTablesList } from '../core/restore/toc.js';
import { connect, databaseError, libpqVars } from '../postgres/connection.js';
import { countTableRows } from '../postgres/dump.js';
import { runPgTool, toolError } from '../postgres/tools.js';
import { countTocEntries } from '../postgres/verify.js';
import { isScratchDatabaseOf } from '../core/drill.js';
import { formatTargetHosts, isAllowedTarget } from '../core/targets.js';

// The restore's side effects on PostgreSQL: everything that reads or changes the target database.

/**
 * The target's connection: DB_HOST, DB_PORT, DB_USER and DB_PASSWORD unless the request says
 * otherwise. Whoever may start a workflow names the host, and the worker would send its own
 * credentials there: a host the worker does not allow (RESTORE_TARGET_HOSTS) is refused here,
 * before any connection.
 */
export function targetDatabase(config: Config, target: RestoreTarget = {}): DatabaseConfig {
  const host = target.host ?? config.database.host;
  const port = target.port ?? config.database.port;
  if (!isAllowedTarget(config.restore.targetHosts, host, port)) {
    throw new BackupError(
      'NotPermitted',
      `restore target ${host}:${port} is not a server this worker may connect to (it allows ${formatTargetHosts(config.restore.targetHosts)})`,
      { hint: "add it to the worker's RESTORE_TARGET_HOSTS if it should be one; nothing was sent to it" },
    );
  }
  return { ...config.database, name: target.database ?? config.database.name, host, port };
}

/**
 * --force skips the human: honoured only where the worker allows it (RESTORE_ALLOW_FORCE), and for a
 * drill's restore into a new scratch database of its own (a name only drills make, created by it, on
 * the worker's own server), which replaces nobody's data.
 */
export function checkForce(config: Config, request: RestoreRequest): void {
  if (!request.force || config.restore.allowForce) return;
  const { target = {} } = request;
  const ownServer = target.host === undefined && target.port === undefined;
  const scratch = target.database && isScratchDatabaseOf(target.database, config.database.name);
  if (ownServer && request.createDb && scratch) return;
  throw forceRefused();
}

/**
 * The plan's half of checkForce: a forced restore that the worker let through only as a drill's
 * must find its scratch database new. An existing one is somebody's data (or an old drill's, which
 * the drill refuses to replace too).
 */
export function checkForcedTarget(config: Config, request: RestoreRequest, targetExists: boolean): void {
  if (request.force && !config.restore.allowForce && targetExists) throw forceRefused();
}

function forceRefused(): BackupError {
  return new BackupError(
    'NotPermitted',
    '--force: this worker does not let a restore skip its approval (RESTORE_ALLOW_FORCE is off)',
    { hint: 'start it without --force and have an approver run backupctl approve; nothing was touched' },
  );
}

/** Refuses a target the worker may not connect to (see targetDatabase), before anything else runs. */
export function checkTarget(config: Config, target?: RestoreTarget): void {
  targetDatabase(config, target);
}

/** The server's maintenance database, for what cannot be done from inside the target (CREATE DATABASE). */
const maintenance = (db: DatabaseConfig): DatabaseConfig => ({ ...db, name: 'postgres' });

async function withClient<T>(db: DatabaseConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(db, 'RestoreFailed');
  try {
    return await work(client);
  } catch (error) {
    throw error instanceof BackupError ? error : databaseError(error, db, 'RestoreFailed');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether the target exists, and the current size of each table the restore would replace. */
export async function inspectTarget(
  db: DatabaseConfig,
  tables: TableInScope[],
): Promise<{ exists: boolean; tables: TableInScope[] }> {
  const exists = await withClient(maintenance(db), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    return rowCount === 1;
  });
  if (!exists) return { exists, tables };
  const sized = await withClient(db, async (client) => {
    const result: TableInScope[] = [];
    for (const table of tables) {
      const { rows } = await client.query<{ bytes: string | null }>(
        "SELECT pg_total_relation_size(to_regclass(format('%I.%I', $1::text, $2::text))) AS bytes",
        [table.schema, table.table],
      );
      const bytes = rows[0]?.bytes;
      result.push(bytes === null || bytes === undefined ? table : { ...table, currentBytes: Number(bytes) });
    }
    return result;
  });
  return { exists, tables: sized };
}

export interface ForeignKeyIn {
  /** The table outside the restore that points at one inside it. */
  from: string;
  to: string;
  constraint: string;
}

/**
 * Foreign keys from tables a partial restore leaves alone to tables it replaces: pg_restore --clean
 * cannot drop a table others point at, so such a restore would fail half-way. Found before any change.
 */
export async function foreignKeysInto(db: DatabaseConfig, tables: TableInScope[]): Promise<ForeignKeyIn[]> {
  const inScope = new Set(tables.map((t) => `${t.schema}.${t.table}`));
  const { rows } = await withClient(db, (client) =>
    client.query<{ from: string; to: string; constraint: string }>(
      `SELECT fn.nspname || '.' || f.relname AS from, tn.nspname || '.' || t.relname AS to, c.conname AS constraint
         FROM pg_constraint c
         JOIN pg_class f ON f.oid = c.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
         JOIN pg_class t ON t.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE c.contype = 'f'`,
    ),
  );
  return rows.filter((fk) => inScope.has(fk.to) && !inScope.has(fk.from));
}

/** CREATE DATABASE, unless an earlier attempt already did. */
export async function createDatabase(db: DatabaseConfig): Promise<void> {
  await withClient(maintenance(db), async (client) => {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(db.name)}`);
  });
}

/** DROP DATABASE ... WITH (FORCE): ends the connections left to it; a database already gone is fine. */
export async function dropDatabase(db: DatabaseConfig): Promise<void> {
  await withClient(maintenance(db), (client) =>
    client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(db.name)} WITH (FORCE)`),
  );
}

/**
 * The guide's fix for "database is being accessed by other users": refuse new connections (CONNECTION
 * LIMIT 0; superusers, such as the restoring user usually is, are exempt, otherwise the limit leaves
 * room for pg_restore's own jobs) and end the existing ones. Returns the limit to put back afterwards.
 */
export async function closeTarget(db: DatabaseConfig, jobs: number): Promise<number> {
  return withClient(db, async (client) => {
    const { rows } = await client.query<{ limit: number; superuser: boolean }>(
      `SELECT d.datconnlimit AS limit, r.rolsuper AS superuser
         FROM pg_database d, pg_roles r WHERE d.datname = current_database() AND r.rolname = current_user`,
    );
    const { limit, superuser } = rows[0]!;
    const name = client.escapeIdentifier(db.name);
    await client.query(`ALTER DATABASE ${name} CONNECTION LIMIT ${superuser ? 0 : jobs + 1}`);
    await endSessions(client);
    return limit;
  });
}

/**
 * Ends every other session on the target. Before pg_restore: a worker that died (SIGKILL, OOM)
 * leaves its pg_restore running on, and a retry's pg_restore --clean would wait on its locks or
 * collide with it; ended, the orphan stops at its first error (--exit-on-error).
 */
export async function endOtherSessions(db: DatabaseConfig): Promise<void> {
  await withClient(db, endSessions);
}

async function endSessions(client: pg.Client): Promise<void> {
  await client.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`,
  );
}

export async function reopenTarget(db: DatabaseConfig, limit: number): Promise<void> {
  await withClient(db, (client) =>
    client.query(`ALTER DATABASE ${client.escapeIdentifier(db.name)} CONNECTION LIMIT ${Math.trunc(limit)}`),
  );
}

/** Row counts in the target now, against those the backup recorded; the tables that differ. */
export async function compareRowCounts(
  db: DatabaseConfig,
  tables: TableInScope[],
  connections: number,
): Promise<{
  checked: number;
  mismatches: { schema: string; table: string; expected: number; found: number }[];
}> {
  // count(*) scans each table: as many connections as pg_restore had jobs share the work, each
  // taking the largest table left when it is free, so that one large table is not counted last.
  const queue = [...tables].sort((a, b) => b.rowsInBackup - a.rowsInBackup);
  const found = new Map<TableInScope, number>();
  const connectionCount = Math.max(1, Math.min(connections, tables.length));
  await Promise.all(
    Array.from({ length: connectionCount }, () =>
      withClient(db, async (client) => {
        for (let table = queue.shift(); table; table = queue.shift())
          found.set(table, (await countTableRows(client, [table]))[0]!.rows);
      }),
    ),
  );
  const counted = tables.map((t) => ({ ...t, rows: found.get(t)!, expected: t.rowsInBackup }));
  const mismatches = counted
    .filter((c) => c.rows !== c.expected)
    .map((c) => ({ schema: c.schema, table: c.table, expected: c.expected, found: c.rows }));
  return { checked: tables.length, mismatches };
}

/** The operator's own checks (the guide's tests/verify-data.sql): any error fails the restore. */
export async function runVerifySql(db: DatabaseConfig, file: string, signal?: AbortSignal): Promise<void> {
  const input = fileInput(db, file);
  const result = await runPgTool(
    db,
    'psql',
    ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', input.name],
    libpqVars(db, 'durable-backup verify'),
    { reject: false, cancelSignal: signal, ...input.options },
  );
  if (result.failed) throw permanent(toolError(`psql -f ${file}`, result, 'RestoreFailed', db));
}

/**
 * A file of the worker's as a tool's argument: its path here; in a container, which cannot see the
 * worker's files, `-` with the file on the tool's stdin (`docker exec -i ... < file`).
 */
function fileInput(place: ToolPlace, path: string): { name: string; options: { inputFile?: string } } {
  return place.dockerContainer ? { name: '-', options: { inputFile: path } } : { name: path, options: {} };
}

/** `pg_restore --list` of an archive file: its number of TOC entries. */
export async function listArchive(path: string, place: ToolPlace, signal?: AbortSignal): Promise<number> {
  return countTocEntries(await readArchive(['--list'], path, place, signal));
}

/** What `pg_restore --use-list` needs to restore whole tables (see wholeTablesList). */
export async function wholeTablesListOf(
  path: string,
  tables: TableInScope[],
  place: ToolPlace,
  signal?: AbortSignal,
): Promise<string> {
  const [toc, schemaSql] = await Promise.all([
    readArchive(['--list'], path, place, signal),
    readArchive(['--schema-only', '--file=-'], path, place, signal),
  ]);
  return wholeTablesList(toc, schemaSql, tables);
}

/**
 * The --use-list for a partial restore: the user's own, or, for --table, one that brings each
 * table back whole (with its indexes, constraints, triggers and sequences). None for --schema only.
 */
export async function selectionList(
  archivePath: string,
  request: Pick<RestoreRequest, 'useList' | 'tables'>,
  tables: TableInScope[],
  place: ToolPlace,
): Promise<string | undefined> {
  if (request.useList) return request.useList;
  if (request.tables?.length) return wholeTablesListOf(archivePath, tables, place);
  return undefined;
}

async function readArchive(
  args: string[],
  path: string,
  place: ToolPlace,
  signal?: AbortSignal,
): Promise<string> {
  // pg_restore takes no `-` for stdin: an archive it is not given by name, it reads from stdin.
  const input = fileInput(place, path);
  const result = await runPgTool(
    place,
    'pg_restore',
    input.name === '-' ? args : [...args, path],
    {},
    {
      reject: false,
      cancelSignal: signal,
      ...input.options,
    },
  );
  if (result.failed) {
    throw permanent(
      toolError(`pg_restore ${args[0]}`, result, 'RestoreFailed', undefined, place.dockerContainer),
    );
  }
  return String(result.stdout);
}

/**
 * Reads every block of an archive without restoring it: pg_restore writes the SQL script it would
 * run to /dev/null, so it decompresses every table's data and large object. --list reads only the
 * table of contents and misses a damaged data block; this does not (zlib's check fails). pg_restore
 * does not fsync a script it writes (checked with strace on pg_restore 15), so /dev/null is safe.
 */
export async function readWholeArchive(path: string, place: ToolPlace, signal?: AbortSignal): Promise<void> {
  await readArchive(['--file=/dev/null'], path, place, signal);
}

/**
 * Runs pg_restore into the target. SQL errors repeat on a retry; only lost connections are retried.
 * In a container (USE_DOCKER) the archive goes to pg_restore's stdin, so no byte of it is written
 * there, and pg_restore reads it in one pass: --jobs must be 1 (resolveRestore sees to it).
 */
export async function runPgRestore(
  db: DatabaseConfig,
  options: Omit<PgRestoreOptions, 'database'>,
  signal?: AbortSignal,
): Promise<void> {
  const inContainer = Boolean(db.dockerContainer);
  const result = await withListIn(db, options.listPath, (listPath) =>
    runPgTool(
      db,
      'pg_restore',
      pgRestoreArgs({
        ...options,
        database: db.name,
        listPath,
        archivePath: inContainer ? undefined : options.archivePath,
      }),
      libpqVars(db, 'durable-backup pg_restore'),
      {
        reject: false,
        cancelSignal: signal,
        ...(inContainer ? { inputFile: options.archivePath } : { stdin: 'ignore' as const }),
      },
    ),
  );
  if (!result.failed) return;
  const error = toolError('pg_restore', result, 'RestoreFailed', db);
  throw CONNECTION_LOST.test(String(result.stderr)) ? error : permanent(error);
}

/**
 * The --use-list file where pg_restore can read it: in a container, a copy under its /tmp (the table
 * of contents, no data), written by the exec user so it can read it, and removed afterwards.
 */
async function withListIn<T>(
  place: ToolPlace,
  listPath: string | undefined,
  work: (listPath: string | undefined) => Promise<T>,
): Promise<T> {
  if (!listPath || !place.dockerContainer) return work(listPath);
  const copy = `/tmp/durable-backup-${randomUUID()}.list`;
  const written = await runPgTool(
    place,
    'sh',
    ['-c', 'umask 077 && cat > "$0"', copy],
    {},
    {
      reject: false,
      inputFile: listPath,
    },
  );
  if (written.failed)
    throw permanent(
      toolError('copying the --use-list file', written, 'RestoreFailed', undefined, place.dockerContainer),
    );
  try {
    return await work(copy);
  } finally {
    await runPgTool(place, 'rm', ['-f', copy], {}, { reject: false, stdin: 'ignore' });
  }
}

const CONNECTION_LOST =
  /could not connect|connection to server .* failed|server closed the connection|terminating connection/i;

function permanent(error: BackupError): BackupError {
  return new BackupError(error.kind, error.message, { retryable: false, hint: error.hint });
}
