import { PassThrough, type Readable } from 'node:stream';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import type { ToolPlace } from '../core/command.js';
import { BackupError } from '../core/errors.js';
import { connect, libpqVars } from './connection.js';
import { runPgTool, toolError } from './tools.js';

export interface TableRowCount {
  schema: string;
  table: string;
  rows: number;
}

export interface DumpFacts {
  serverVersion: string;
  pgDumpVersion: string;
  tables: TableRowCount[];
}

export interface RunningDump {
  /** The pg_dump -Fc archive, as pg_dump writes it. */
  archive: Readable;
  /** pg_database_size, to size upload parts before the archive's size is known. */
  databaseBytes: number;
  /** Resolves once pg_dump exited cleanly and every table was counted; rejects with a typed error. */
  finished: Promise<DumpFacts>;
  /** Where pg_dump runs (here or in DOCKER_CONTAINER): its archive is verified there too. */
  toolsIn: ToolPlace;
}

/**
 * Starts pg_dump -Fc to a pipe, and counts the rows of every table in the dump's own snapshot: a
 * repeatable-read transaction exports its snapshot, pg_dump imports it with --snapshot, and the
 * counts are read in that same transaction while pg_dump runs. Restores compare against them.
 */
export async function startDump(
  db: DatabaseConfig,
  options: { compression: number; signal?: AbortSignal },
): Promise<RunningDump> {
  const client = await connect(db, 'DumpFailed');
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await takeDumpLock(client, db);
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const { rows } = await client.query<{ version: string; bytes: string }>(
      'SELECT current_setting($1) AS version, pg_database_size(current_database()) AS bytes',
      ['server_version'],
    );
    const dump = runPgTool(
      db,
      'pg_dump',
      ['--format=custom', `--compress=${options.compression}`, `--snapshot=${snapshot}`],
      libpqVars(db, 'durable-backup pg_dump'),
      {
        cancelSignal: options.signal,
        reject: false,
        stdin: 'ignore',
        stdout: 'pipe',
        buffer: { stdout: false },
      },
    );
    const finished = (async () => {
      try {
        const [tables, result] = await Promise.all([countRows(client), dump]);
        if (result.exitCode !== 0 || result.failed) throw toolError('pg_dump', result, 'DumpFailed', db);
        return { serverVersion: rows[0]!.version, pgDumpVersion: await pgDumpVersion(db), tables };
      } finally {
        await closeSnapshot(client);
      }
    })();
    return {
      archive: heldFrom(dump.stdout),
      databaseBytes: Number(rows[0]!.bytes),
      finished,
      toolsIn: { dockerContainer: db.dockerContainer },
    };
  } catch (error) {
    await closeSnapshot(client);
    throw error;
  }
}

/**
 * The archive, read from the first byte however late its reader comes. With `buffer: false`, execa
 * resumes an output nobody reads yet after one tick, and every byte pg_dump writes then is dropped:
 * under load, the upload's set-up outlasts a small dump. Piped at once, the bytes wait instead
 * (pipe backpressure stops pg_dump until they are read).
 */
function heldFrom(stdout: Readable): Readable {
  const held = new PassThrough();
  stdout.on('error', (error) => held.destroy(error));
  // A reader that gives up (a full disk, a failed encryption) destroys the archive: pg_dump must then
  // see its pipe close and exit, not wait on a full one for ever (its exit is awaited on failure).
  held.on('close', () => stdout.destroy());
  return stdout.pipe(held);
}

/**
 * The advisory lock every dump of a database holds, in its snapshot transaction, for as long as
 * pg_dump runs. Advisory locks belong to one database, so one key serves all; the server drops the
 * lock with the transaction, also when a killed worker's connection goes.
 */
export const DUMP_LOCK_KEY = '7230014255';

/**
 * Two backups of one database at once (a scheduled one and a manual one, say) would run two pg_dumps
 * against it and, started in the same second, share one backup name: the second is refused, whoever
 * started it and on whichever host. Not retried: a retry could start once the first's dump is over
 * and write over the backup it is uploading.
 */
async function takeDumpLock(client: pg.Client, db: DatabaseConfig): Promise<void> {
  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked',
    [DUMP_LOCK_KEY],
  );
  if (rows[0]!.locked) return;
  throw new BackupError(
    'AlreadyRunning',
    `database "${db.name}" at ${db.host}:${db.port}: another backup of it is running; this one is refused`,
    {
      hint: `wait for it to finish, then run again (temporal workflow list --query "BackupDatabase='${db.name}' AND ExecutionStatus='Running'" shows it)`,
    },
  );
}

async function closeSnapshot(client: pg.Client): Promise<void> {
  await client.query('ROLLBACK').catch(() => undefined);
  await client.end().catch(() => undefined);
}

async function countRows(client: pg.Client): Promise<TableRowCount[]> {
  const tables = await client.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      ORDER BY 1, 2`,
  );
  return countTableRows(client, tables.rows);
}

/** Exact row counts (count(*)), one table at a time; restores compare against these. */
export async function countTableRows(
  client: pg.Client,
  tables: { schema: string; table: string }[],
): Promise<TableRowCount[]> {
  const counts: TableRowCount[] = [];
  for (const { schema, table } of tables) {
    const name = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`;
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
    counts.push({ schema, table, rows: Number(rows[0]!.n) });
  }
  return counts;
}

async function pgDumpVersion(place: ToolPlace): Promise<string> {
  const result = await runPgTool(place, 'pg_dump', ['--version'], {}, { reject: false, stdin: 'ignore' });
  if (result.failed)
    throw toolError('pg_dump --version', result, 'DumpFailed', undefined, place.dockerContainer);
  return result.stdout.trim();
}
