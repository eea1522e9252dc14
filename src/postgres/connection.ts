import pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { BackupError, type ErrorKind } from '../core/errors.js';

/**
 * The connection for pg_dump, pg_restore and psql, as libpq variables (see runPgTool): the password
 * travels in PGPASSWORD, never on a command line where `ps` would show it. With USE_DOCKER the same
 * DB_HOST and DB_PORT are used from inside the container.
 */
export function libpqVars(db: DatabaseConfig, applicationName: string): Record<string, string> {
  return {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGUSER: db.user,
    PGDATABASE: db.name,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: '10',
    ...(db.password ? { PGPASSWORD: db.password } : {}),
  };
}

export async function connect(db: DatabaseConfig, kind: ErrorKind): Promise<pg.Client> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    database: db.name,
    password: db.password,
    application_name: 'durable-backup',
    connectionTimeoutMillis: 10_000,
  });
  // A server-side disconnect surfaces in the running query; without a listener it would crash the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw databaseError(error, db, kind);
  }
  return client;
}

/** SQLSTATE classes that no retry will fix: authentication, a missing database or role, privileges. */
const PERMANENT_SQLSTATES: Record<string, string> = {
  '28P01': 'password authentication failed',
  '28000': 'authorization failed (check pg_hba.conf and DB_USER)',
  '3D000': 'database does not exist',
  '42501': 'permission denied',
  '42704': 'role does not exist',
};

/** A typed, secret-free error for a database failure; connection problems stay retryable. */
export function databaseError(error: unknown, db: DatabaseConfig, kind: ErrorKind): BackupError {
  const where = `database "${db.name}" at ${db.host}:${db.port} as ${db.user}`;
  const code = (error as { code?: string }).code ?? '';
  const permanent = PERMANENT_SQLSTATES[code];
  if (permanent) return new BackupError(kind, `${where}: ${permanent}`, { retryable: false });
  const network: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'connection reset',
  };
  const reason = network[code] ?? (error instanceof Error ? error.message : String(error));
  return new BackupError(kind, `${where}: ${reason}`, { retryable: true });
}
