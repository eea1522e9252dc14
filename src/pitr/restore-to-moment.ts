import { execa } from 'execa';
import pg from 'pg';
import type { Config, DatabaseConfig } from '../config/index.js';
import { BackupError, configError } from '../core/errors.js';
import {
  pitrPlan,
  qualifiedTable,
  type PitrRestorePlan,
  type PitrTableInScope,
} from '../core/pitr-restore.js';
import { conninfoDatabase } from '../core/restore/pg-restore-args.js';
import type { RestoreTarget } from '../core/restore/request.js';
import { redact } from '../core/redact.js';
import { connect, libpqVars } from '../postgres/connection.js';
import { toolEnv } from '../process/env.js';
import { createDatabase, targetDatabase } from '../restore/target.js';
import type { PgBackRest } from './pgbackrest.js';
import { stanzaInfo } from './backup.js';
import { pgBin, type Scratch } from './scratch.js';

// Restore to a moment, after the scratch server recovered: the plan (pgbackrest info, the target as
// it is), then the copy out of the scratch server into the target with pg_dump | pg_restore.

export interface MomentRequest {
  to?: string;
  target?: RestoreTarget;
  createDb?: boolean;
  tables?: string[];
  noOwner?: boolean;
}

/** The plan: the base backup for the moment, the WAL, the target and the tables it replaces. */
export async function planMoment(
  config: Config,
  br: PgBackRest,
  request: MomentRequest,
  now: string,
): Promise<PitrRestorePlan> {
  const db = targetDatabase(config, request.target);
  const scope = request.tables?.length ? 'tables' : 'database';
  const exists = await databaseExists(db);
  if (scope === 'database' && exists) {
    throw configError(
      `--target-db: ${db.name} exists; a whole database restored to a moment goes into a new one`,
      'name a new database with --target-db and --create-db, or bring back tables with --table',
    );
  }
  if (scope === 'database' && !request.createDb) {
    throw configError(`--target-db: ${db.name} does not exist; add --create-db to create it`);
  }
  if (scope === 'tables' && !exists) {
    throw configError(`--target-db: ${db.name} does not exist; --table restores into an existing database`);
  }
  const tables: PitrTableInScope[] = [];
  for (const name of request.tables ?? []) {
    const { schema, table } = qualifiedTable(name);
    tables.push({ schema, table, exists: await tableExists(db, schema, table) });
  }
  return pitrPlan({
    info: await stanzaInfo(br),
    to: request.to,
    now,
    scope,
    source: config.database.name,
    target: { host: db.host, port: db.port, database: db.name, exists, create: scope === 'database' },
    tables,
  });
}

async function databaseExists(db: DatabaseConfig): Promise<boolean> {
  const client = await connect({ ...db, name: 'postgres' }, 'RestoreFailed');
  try {
    return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name])).rowCount === 1;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function tableExists(db: DatabaseConfig, schema: string, table: string): Promise<boolean> {
  const client = await connect(db, 'RestoreFailed');
  try {
    const { rows } = await client.query<{ oid: string | null }>(
      "SELECT to_regclass(format('%I.%I', $1::text, $2::text))::oid AS oid",
      [schema, table],
    );
    return rows[0]?.oid !== null && rows[0]?.oid !== undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface CopyOutcome {
  /** Rows of each table copied, as the scratch server and the target both count them. */
  tables: { schema: string; table: string; rows: number }[];
}

/**
 * pg_dump of the source database (or of the plan's tables) on the scratch server, piped into
 * pg_restore into the target; then the row counts of both compared. Tables are replaced in one
 * transaction (--clean --if-exists --single-transaction): a failure leaves the target as it was.
 */
export async function copyOut(
  config: Config,
  scratch: Scratch,
  plan: PitrRestorePlan,
  request: MomentRequest,
  signal?: AbortSignal,
): Promise<CopyOutcome> {
  const db = targetDatabase(config, request.target);
  if (plan.scope === 'database') await createDatabase(db);
  const pgDump = await pgBin(scratch.dataDir, 'pg_dump');
  const pgRestore = await pgBin(scratch.dataDir, 'pg_restore');
  const tableArgs = plan.tables.flatMap((t) => ['--table', `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`]);
  const dumpEnv = toolEnv({
    PGHOST: scratch.socketDir,
    PGPORT: String(scratch.port),
    PGUSER: scratch.user,
    PGDATABASE: plan.source,
  });
  const restoreArgs = [
    '--exit-on-error',
    '--single-transaction',
    ...(plan.scope === 'tables' ? ['--clean', '--if-exists'] : []),
    ...(request.noOwner ? ['--no-owner', '--no-acl'] : []),
    // As a conninfo string: a database named like "host=elsewhere" must not become a connection string.
    `--dbname=${conninfoDatabase(db.name)}`,
  ];
  const dump = execa(pgDump, ['--format=custom', ...tableArgs], {
    ...dumpEnv,
    cwd: '/',
    stdin: 'ignore',
    cancelSignal: signal,
    reject: false,
  });
  const restore = execa(pgRestore, restoreArgs, {
    ...toolEnv(libpqVars(db, 'durable-backup pitr restore')),
    cwd: '/',
    cancelSignal: signal,
    reject: false,
  });
  dump.stdout.pipe(restore.stdin);
  const [dumped, restored] = await Promise.all([dump, restore]);
  const secrets = db.password ? [db.password] : [];
  for (const [name, run] of [
    ['pg_dump', dumped],
    ['pg_restore', restored],
  ] as const) {
    if (run.isCanceled) throw new BackupError('General', `${name} was cancelled`, { retryable: true });
    if (run.failed) {
      const line =
        redact(String(run.stderr ?? ''), secrets)
          .trim()
          .split('\n')
          .pop() || `exit code ${run.exitCode}`;
      throw new BackupError('RestoreFailed', `${name} failed: ${line}`, { retryable: false });
    }
  }
  return { tables: await compareCounts(scratch, plan, db) };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Counts each table in scope (every user table for a whole database) on both sides. */
async function compareCounts(
  scratch: Scratch,
  plan: PitrRestorePlan,
  db: DatabaseConfig,
): Promise<CopyOutcome['tables']> {
  const source = new pg.Client({
    host: scratch.socketDir,
    port: scratch.port,
    user: scratch.user,
    database: plan.source,
  });
  source.on('error', () => undefined);
  await source.connect();
  const target = await connect(db, 'RestoreFailed');
  try {
    const tables =
      plan.scope === 'tables'
        ? plan.tables
        : (
            await source.query<{ schema: string; table: string }>(
              `SELECT n.nspname AS schema, c.relname AS "table" FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
                ORDER BY 1, 2`,
            )
          ).rows;
    const result: CopyOutcome['tables'] = [];
    for (const { schema, table } of tables) {
      const sql = `SELECT count(*)::bigint AS n FROM ${quoteIdent(schema)}.${quoteIdent(table)}`;
      const [a, b] = await Promise.all([source.query<{ n: string }>(sql), target.query<{ n: string }>(sql)]);
      const [inScratch, inTarget] = [Number(a.rows[0]!.n), Number(b.rows[0]!.n)];
      if (inScratch !== inTarget) {
        throw new BackupError(
          'RestoreFailed',
          `${schema}.${table}: ${inTarget} rows restored, and the recovered server has ${inScratch}`,
          { retryable: false },
        );
      }
      result.push({ schema, table, rows: inTarget });
    }
    return result;
  } finally {
    await source.end().catch(() => undefined);
    await target.end().catch(() => undefined);
  }
}
