import pg from 'pg';
import type { Config } from '../config/index.js';
import { HEARTBEAT_SCHEMA, HEARTBEAT_TABLE } from '../core/pitr-heartbeat.js';
import { pgBackRestOf } from './pgbackrest.js';
import { stanzaInfo } from './backup.js';
import { baseBackupFor } from '../core/pitr-restore.js';
import { recoverScratch, type ScratchStep } from './scratch.js';
import { pitrOf } from './setup.js';

// The PITR drill's work on the database's host: recover a scratch server to the moment, read the
// newest heartbeat in it, remove it.

export interface PitrDrillRun {
  restoreMs: number;
  recoveryMs: number;
  baseBackup: string;
  newestBeat?: string;
  recoveredTo?: string;
}

export async function runPitrDrill(
  config: Config,
  options: {
    owner: { workflowId: string; runId?: string };
    target: string;
    now: string;
    signal?: AbortSignal;
    progress?: (step: ScratchStep) => void;
  },
): Promise<PitrDrillRun> {
  const pitr = pitrOf(config);
  const br = pgBackRestOf(pitr);
  const base = baseBackupFor(await stanzaInfo(br, options.signal), options.target, options.now);
  const scratch = await recoverScratch({
    br,
    configDir: pitr.configDir,
    owner: options.owner,
    target: options.target,
    set: base.label,
    signal: options.signal,
    progress: options.progress,
  });
  try {
    const client = new pg.Client({
      host: scratch.socketDir,
      port: scratch.port,
      user: scratch.user,
      database: config.database.name,
    });
    client.on('error', () => undefined);
    await client.connect();
    const beat = await client
      .query<{ beat: Date | null }>(
        `SELECT max(beat) AS beat FROM ${client.escapeIdentifier(HEARTBEAT_SCHEMA)}.${client.escapeIdentifier(HEARTBEAT_TABLE)}`,
      )
      .then((r) => r.rows[0]?.beat ?? undefined)
      .catch(() => undefined)
      .finally(() => client.end().catch(() => undefined));
    return {
      restoreMs: scratch.restoreMs,
      recoveryMs: scratch.recoveryMs,
      baseBackup: base.label,
      newestBeat: beat?.toISOString(),
      recoveredTo: scratch.recoveredTo,
    };
  } finally {
    await scratch.remove();
  }
}
