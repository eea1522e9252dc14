import { stat } from 'node:fs/promises';
import { execa } from 'execa';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { connect, libpqEnv } from './connection.js';
import { toolError } from './tools.js';

export interface TableRowCount {
  schema: string;
  table: string;
  rows: number;
}

export interface DumpResult {
  bytes: number;
  serverVersion: string;
  pgDumpVersion: string;
  tables: TableRowCount[];
}

export interface DumpOptions {
  compression: number;
  signal?: AbortSignal;
  /** Called every couple of seconds with the bytes written so far. */
  onProgress?: (bytes: number) => void;
}

/**
 * pg_dump -Fc into outPath, and the row count of every table taken in the dump's own snapshot:
 * a repeatable-read transaction exports its snapshot, pg_dump imports it with --snapshot, and the
 * counts are read in that same transaction while pg_dump runs. Restores compare against them.
 */
export async function dumpDatabase(
  db: DatabaseConfig,
  outPath: string,
  options: DumpOptions,
): Promise<DumpResult> {
  const client = await connect(db, 'DumpFailed');
  const progress = setInterval(() => {
    stat(outPath).then(
      (s) => options.onProgress?.(s.size),
      () => undefined,
    );
  }, 2_000);
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id')).rows[0]!.id;
    const serverVersion = (await client.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    const dump = execa(
      'pg_dump',
      ['--format=custom', `--compress=${options.compression}`, `--snapshot=${snapshot}`, `--file=${outPath}`],
      {
        env: libpqEnv(db, 'durable-backup pg_dump'),
        extendEnv: false,
        cancelSignal: options.signal,
        reject: false,
        stdin: 'ignore',
      },
    );
    const [tables, result] = await Promise.all([countRows(client), dump]);
    if (result.exitCode !== 0 || result.failed) throw toolError('pg_dump', result, 'DumpFailed', db);
    const bytes = (await stat(outPath)).size;
    options.onProgress?.(bytes);
    return { bytes, serverVersion, pgDumpVersion: await pgDumpVersion(), tables };
  } finally {
    clearInterval(progress);
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

async function countRows(client: pg.Client): Promise<TableRowCount[]> {
  const tables = await client.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      ORDER BY 1, 2`,
  );
  const counts: TableRowCount[] = [];
  for (const { schema, table } of tables.rows) {
    const name = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(table)}`;
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${name}`);
    counts.push({ schema, table, rows: Number(rows[0]!.n) });
  }
  return counts;
}

async function pgDumpVersion(): Promise<string> {
  const { stdout } = await execa('pg_dump', ['--version']);
  return stdout.trim();
}
