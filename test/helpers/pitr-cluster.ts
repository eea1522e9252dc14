import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { archiveCommand, stanzaPaths } from '../../src/core/pitr.js';
import { freePort } from './ports.js';

export interface PitrCluster {
  port: number;
  /** The data directory (pgBackRest's pg1-path). */
  dataDir: string;
  /** The folder the cluster lives in (its socket, its log), owned by postgres. */
  dir: string;
  stanza: string;
  /** PITR_CONFIG_DIR: where `backupctl pitr setup` writes <stanza>.conf, which archive_command names. */
  configDir: string;
  /**
   * backupctl's variables for it: DB_HOST, DB_PORT, DB_USER, DB_NAME, PITR=pgbackrest, PITR_STANZA,
   * PITR_CONFIG_DIR, PITR_PG_DATA. A test adds the repository (PITR_REPO_PATH, or the S3 settings).
   */
  env: Record<string, string>;
  /** psql -At as postgres through the socket: the output, trimmed. */
  psql(sql: string, database?: string): Promise<string>;
  /** pg_ctl restart -m fast (settings that need a restart, such as archive_mode). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** Stops it and removes its folder. */
  remove(): Promise<void>;
}

export interface PitrClusterOptions {
  /** A unique stanza name (uniqueName). */
  stanza: string;
  /** PITR_CONFIG_DIR; by default a folder in the cluster's own (which postgres may enter). */
  configDir?: string;
  /** archive_mode=on with pgBackRest's archive_command (the default), or off. */
  archive?: boolean;
  /** archive_timeout in seconds (a segment switch at least this often); 5 by default. */
  archiveTimeoutSeconds?: number;
}

/**
 * A private PostgreSQL cluster of the machine's version on a free port, run as the postgres OS user
 * (pgBackRest must run as the cluster's user), trust authentication on 127.0.0.1 and its socket,
 * wal_level=replica and, unless `archive: false`, archive_mode=on with pgBackRest's archive_command for
 * the stanza's configuration in configDir.
 * The configuration file need not exist yet: the server retries each segment until it does.
 */
export async function startPitrCluster(options: PitrClusterOptions): Promise<PitrCluster> {
  const port = await freePort();
  const bin = (await execa('pg_config', ['--bindir'])).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'pgpitr-'));
  chmodSync(dir, 0o755);
  const uid = Number((await execa('id', ['-u', 'postgres'])).stdout);
  const gid = Number((await execa('id', ['-g', 'postgres'])).stdout);
  chownSync(dir, uid, gid);
  const dataDir = join(dir, 'data');
  const asPostgres = (command: string, args: string[]) =>
    execa('runuser', ['-u', 'postgres', '--', join(bin, command), ...args], { cwd: '/' });
  await asPostgres('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const archive = options.archive ?? true;
  const stanza = options.stanza;
  const configDir = options.configDir ?? join(dir, 'pgbackrest');
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c wal_level=replica',
    `-c archive_mode=${archive ? 'on' : 'off'}`,
    `-c archive_timeout=${options.archiveTimeoutSeconds ?? 5}`,
    '-c max_wal_senders=3',
    '-c fsync=off',
  ];
  if (archive) {
    // pg_ctl -o goes through a shell: the command in double quotes, its %p as it is.
    const { configFile } = stanzaPaths(configDir, stanza);
    settings.push(`-c "archive_command=${archiveCommand(configFile, stanza)}"`);
  }
  const log = join(dir, 'log');
  await asPostgres('pg_ctl', ['-D', dataDir, '-l', log, '-w', '-o', settings.join(' '), 'start']);
  const stop = async () => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', 'stop']).catch(() => undefined);
  };
  return {
    port,
    dataDir,
    dir,
    stanza,
    configDir,
    env: {
      PITR: 'pgbackrest',
      PITR_STANZA: stanza,
      PITR_CONFIG_DIR: configDir,
      DB_HOST: '127.0.0.1',
      DB_PORT: String(port),
      DB_USER: 'postgres',
      DB_NAME: 'postgres',
      PITR_PG_DATA: dataDir,
    },
    psql: async (sql, database = 'postgres') =>
      (
        await execa(
          'runuser',
          [
            '-u',
            'postgres',
            '--',
            join(bin, 'psql'),
            '-X',
            '-At',
            '-v',
            'ON_ERROR_STOP=1',
            '-h',
            dir,
            '-p',
            String(port),
            '-d',
            database,
            '-c',
            sql,
          ],
          { cwd: '/' },
        )
      ).stdout.trim(),
    restart: async () => {
      await asPostgres('pg_ctl', ['-D', dataDir, '-l', log, '-w', '-m', 'fast', 'restart']);
    },
    stop,
    remove: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
