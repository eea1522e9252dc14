import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config/index.js';
import { pgBackRestOf, runPgBackRest, type PgBackRest } from '../../src/pitr/pgbackrest.js';
import { setUpPitr } from '../../src/pitr/setup.js';
import { tempDir } from './files.js';
import { startPitrCluster, type PitrCluster } from './pitr-cluster.js';
import { uniqueName } from './services.js';

/** A private archiving cluster, its stanza set up on a path repository, and a full backup taken. */
export interface BackedUpCluster {
  cluster: PitrCluster;
  config: Config;
  br: PgBackRest;
  env: Record<string, string>;
}

export async function backedUpCluster(
  extraEnv: Record<string, string> = {},
  options: { persistSettings?: boolean; s3?: boolean } = {},
): Promise<BackedUpCluster> {
  const cluster = await startPitrCluster({ stanza: uniqueName('pitr'), archiveTimeoutSeconds: 2 });
  // The command line's settings, in postgresql.auto.conf (backed up): a plain pg_ctl start keeps them.
  if (options.persistSettings) {
    for (const name of [
      'port',
      'unix_socket_directories',
      'listen_addresses',
      'archive_mode',
      'archive_command',
      'archive_timeout',
      'wal_level',
    ]) {
      const value = await cluster.psql(`SELECT setting FROM pg_settings WHERE name = '${name}'`);
      await cluster.psql(`ALTER SYSTEM SET ${name} = '${value.replace(/'/g, "''")}'`);
    }
  }
  const env = {
    ...cluster.env,
    BACKUP_DIR: tempDir('pitr-backups'),
    ...(options.s3 ? {} : { PITR_REPO_PATH: join(cluster.dir, 'repo') }),
    ...extraEnv,
  };
  const config = loadConfig({ env });
  await setUpPitr(config, () => undefined);
  const br = pgBackRestOf(config.pitr!);
  await runPgBackRest(br, 'backup', ['--type=full']);
  return { cluster, config, br, env };
}

/** Forces a segment switch and waits until the archiver handed it to pgBackRest. */
export async function archiveNow(cluster: PitrCluster): Promise<void> {
  const count = async () => Number(await cluster.psql('SELECT archived_count FROM pg_stat_archiver'));
  const before = await count();
  await cluster.psql('SELECT pg_switch_wal()');
  const deadline = Date.now() + 30_000;
  while ((await count()) <= before) {
    if (Date.now() > deadline) throw new Error('no WAL segment archived within 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The server's clock now, as an ISO string (the moments recovery compares with are the server's). */
export async function serverNow(cluster: PitrCluster): Promise<string> {
  return new Date(
    await cluster.psql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`),
  ).toISOString();
}
