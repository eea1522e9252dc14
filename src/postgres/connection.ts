import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { DatabaseConfig } from '../config/index.js';
import { BackupError, configError, type ErrorKind } from '../core/errors.js';
import type { SslMode } from '../core/targets.js';
import { DockerRelay, RelayError } from './relay.js';
import { dockerError } from './tools.js';

/**
 * The connection for pg_dump, pg_restore and psql, as libpq variables (see runPgTool): the password
 * travels in PGPASSWORD, never on a command line where `ps` would show it. With USE_DOCKER the same
 * DB_HOST and DB_PORT are used from inside the container, as by connect().
 */
export function libpqVars(db: DatabaseConfig, applicationName: string): Record<string, string> {
  return {
    PGHOST: db.host,
    PGPORT: String(db.port),
    PGUSER: db.user,
    PGDATABASE: db.name,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: '10',
    PGSSLMODE: db.sslMode,
    ...(db.sslRootCert ? { PGSSLROOTCERT: db.sslRootCert } : {}),
    // libpq 16 and later refuse to send the password in clear text; older ones ignore the variable.
    PGREQUIREAUTH: '!password',
    ...(db.password ? { PGPASSWORD: db.password } : {}),
  };
}

/**
 * The worker's own connection. With USE_DOCKER it goes through a relay in the container (DockerRelay),
 * so DB_HOST:DB_PORT is reached from there, like the tools do, and need not be published. The
 * password travels inside the PostgreSQL protocol, through the relay's pipes, never in its argv.
 */
export async function connect(db: DatabaseConfig, kind: ErrorKind): Promise<pg.Client> {
  const container = db.dockerContainer;
  if (container && db.host.startsWith('/')) {
    throw configError(
      `DB_HOST: ${db.host} is a socket directory, and USE_DOCKER connects over TCP from the container`,
      'set DB_HOST to a host name or address as the container sees it, such as localhost',
    );
  }
  const client = new PasswordGuardedClient({
    ...(container ? { stream: () => new DockerRelay(container) } : {}),
    host: db.host,
    port: db.port,
    user: db.user,
    database: db.name,
    password: db.password,
    application_name: 'durable-backup',
    connectionTimeoutMillis: 10_000,
    ssl: nodeSsl(db.sslMode, db.sslRootCert),
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

/**
 * libpq's sslmode for node-postgres. It cannot fall back as libpq does (prefer tries TLS first, then
 * plain): prefer and allow connect without TLS, so a worker that must encrypt sets require or
 * stronger (production demands it). require encrypts without checking the certificate; verify-ca
 * checks the chain against DB_SSLROOTCERT (or Node's CAs), verify-full the host name too.
 */
export function nodeSsl(mode: SslMode, rootCertFile?: string): pg.ClientConfig['ssl'] {
  const ca = rootCertFile ? { ca: readFileSync(rootCertFile, 'utf8') } : {};
  switch (mode) {
    case 'disable':
    case 'allow':
    case 'prefer':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...ca };
    case 'verify-full':
      return { rejectUnauthorized: true, ...ca };
  }
}

/**
 * A client that never sends the password in clear text: a server (or an impostor) that asks for it
 * so gets an error instead, as libpq's require_auth=!password does for the tools. node-postgres has
 * no such setting; this replaces its handler of that one request (pg 8's Client method).
 */
class PasswordGuardedClient extends pg.Client {
  _handleAuthCleartextPassword(): void {
    const connection = (this as unknown as { connection: { emit(event: 'error', error: Error): void } })
      .connection;
    connection.emit('error', new CleartextPasswordRefused());
  }
}

export class CleartextPasswordRefused extends Error {
  readonly code = 'CLEARTEXT_PASSWORD';
  constructor() {
    super('the server asked for the password in clear text; refused (use scram-sha-256 in pg_hba.conf)');
  }
}

const RELAY_NEEDS_BASH =
  "USE_DOCKER connects through bash's /dev/tcp in the container: use a Debian-based postgres image, or add bash to an Alpine one (apk add bash)";

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
  if (error instanceof RelayError) {
    const docker = dockerError('bash', error.result, kind, error.container, RELAY_NEEDS_BASH);
    if (docker) return docker;
  }
  const through = db.dockerContainer ? ` from container "${db.dockerContainer}"` : '';
  const where = `database "${db.name}" at ${db.host}:${db.port}${through} as ${db.user}`;
  const code = (error as { code?: string }).code ?? '';
  const permanent =
    PERMANENT_SQLSTATES[code] ?? (error instanceof CleartextPasswordRefused ? error.message : undefined);
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
