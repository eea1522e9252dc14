import type { DatabaseConfig } from '../config/index.js';
import { HEARTBEAT_SCHEMA, HEARTBEAT_TABLE } from '../core/pitr-heartbeat.js';
import { connect } from '../postgres/connection.js';

// The heartbeat the worker writes every minute when PITR=pgbackrest: one row, durable_backup.heartbeat,
// whose `beat` a recovered copy shows as its newest commit (the PITR drill's achieved RPO). It also
// keeps WAL flowing on a quiet database, so archive_timeout switches a segment every minute and the
// WAL archive's age measures archiving, not idleness.

export const HEARTBEAT_INTERVAL_MS = 60_000;

const TABLE = `${HEARTBEAT_SCHEMA}.${HEARTBEAT_TABLE}`;

/** Creates the schema and table when missing, and sets the one row's beat to now; returns it. */
export async function writeHeartbeat(db: DatabaseConfig): Promise<Date> {
  const client = await connect(db, 'General');
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${HEARTBEAT_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (id int PRIMARY KEY DEFAULT 1, beat timestamptz NOT NULL)`,
    );
    const { rows } = await client.query<{ beat: Date }>(
      `INSERT INTO ${TABLE} (id, beat) VALUES (1, now())
         ON CONFLICT (id) DO UPDATE SET beat = excluded.beat RETURNING beat`,
    );
    return rows[0]!.beat;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface HeartbeatWriter {
  stop(): void;
}

/**
 * Writes the heartbeat now and every intervalMs. A failure is logged once (and once more after a
 * success), never thrown: a database away for a while must not stop the worker.
 */
export function startHeartbeat(
  db: DatabaseConfig,
  log: { info(message: string): void; warn(message: string): void },
  intervalMs = HEARTBEAT_INTERVAL_MS,
): HeartbeatWriter {
  let failing = false;
  let running = false;
  const beat = async () => {
    if (running) return;
    running = true;
    try {
      await writeHeartbeat(db);
      if (failing) log.info(`heartbeat: ${TABLE} in ${db.name} written again`);
      failing = false;
    } catch (error) {
      if (!failing) {
        const message = error instanceof Error ? error.message : String(error);
        log.warn(
          `heartbeat: cannot write ${TABLE} in ${db.name}: ${message}; retried every ${intervalMs / 1000} s`,
        );
      }
      failing = true;
    } finally {
      running = false;
    }
  };
  void beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
