import type { Config } from '../config/index.js';
import type { ArchiverFacts } from '../core/pitr-health.js';
import { newestBackup, type PhysicalBackup } from '../core/pitr-backup.js';
import { connect } from '../postgres/connection.js';
import { readStanzaInfo } from './backup.js';

// What the metrics and `health` read of PITR: the server's archiver statistics and the newest physical
// backup. The archive's age comes from pg_stat_archiver, not from `pgbackrest info`: info names the
// newest segment (archive max) but not when it arrived, and the server's view also counts failures.

export async function readArchiverFacts(config: Config): Promise<ArchiverFacts> {
  const client = await connect(config.database, 'General');
  try {
    const { rows } = await client.query<{
      archived: number | null;
      wal: string | null;
      failed: string;
      failed_at: number | null;
      reset: number | null;
    }>(
      `SELECT extract(epoch FROM last_archived_time)::float8 AS archived, last_archived_wal AS wal,
              failed_count AS failed, extract(epoch FROM last_failed_time)::float8 AS failed_at,
              extract(epoch FROM stats_reset)::float8 AS reset
         FROM pg_stat_archiver`,
    );
    const r = rows[0]!;
    return {
      lastArchivedSeconds: r.archived ?? undefined,
      lastArchivedWal: r.wal ?? undefined,
      failedCount: Number(r.failed),
      lastFailedSeconds: r.failed_at ?? undefined,
      statsResetSeconds: r.reset ?? undefined,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The newest physical backup of the database's stanza, or undefined when there is none yet. */
export async function readNewestPhysicalBackup(config: Config): Promise<PhysicalBackup | undefined> {
  if (!config.pitr) return undefined;
  return newestBackup(await readStanzaInfo(config.pitr));
}
