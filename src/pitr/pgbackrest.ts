import { chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { execa } from 'execa';
import type pg from 'pg';
import type { PitrConfig } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import { pgBackRestConf, stanzaPaths, type PgBackRestSettings, type ServerSettings } from '../core/pitr.js';
import { redact } from '../core/redact.js';
import { toolEnv } from '../process/env.js';

// pgBackRest's I/O: its configuration file (0600, for the cluster's OS user), and its commands run as
// that user with our sanitized environment. Secrets live in the file only: never in argv or env.

/** Where the stanza's configuration file is, and who runs pgBackRest. */
export interface PgBackRest {
  configFile: string;
  stanza: string;
  /** The OS user pgBackRest runs as (the cluster's). */
  user: string;
  /** Values that must never be shown (the cipher passphrase, the S3 keys). */
  secrets: string[];
}

export interface ServerFacts extends ServerSettings {
  /** Undefined when DB_USER may not see it (neither superuser nor pg_read_all_settings). */
  data_directory?: string;
  port: number;
  /** The first of unix_socket_directories, when the server listens on one. */
  socket?: string;
}

/** The server's archiving settings and where it keeps its data (superuser or pg_read_all_settings). */
export async function readServerFacts(client: pg.Client): Promise<ServerFacts> {
  const { rows } = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN
       ('wal_level', 'archive_mode', 'archive_command', 'archive_timeout', 'data_directory', 'port', 'unix_socket_directories')`,
  );
  const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  const socket = (s.unix_socket_directories ?? '').split(',')[0]?.trim();
  return {
    wal_level: s.wal_level ?? '',
    archive_mode: s.archive_mode ?? '',
    archive_command: s.archive_command ?? '',
    archive_timeout: Number(s.archive_timeout ?? 0),
    data_directory: s.data_directory,
    port: Number(s.port),
    socket: socket || undefined,
  };
}

/** The settings pgBackRestConf takes, from ours and the server's. */
export function confSettings(pitr: PitrConfig, server: ServerFacts): PgBackRestSettings {
  return {
    stanza: pitr.stanza,
    pgData: pitr.pgData ?? server.data_directory ?? noDataDirectory(),
    pgPort: server.port,
    pgSocketPath: server.socket,
    repo: pitr.repo,
    cipherPass: pitr.cipherPass,
    archiveTimeoutSeconds: pitr.archiveTimeoutSeconds,
    stateDir: stanzaPaths(pitr.configDir, pitr.stanza).stateDir,
  };
}

function noDataDirectory(): never {
  throw new BackupError('Configuration', 'pitr setup: the server does not show data_directory to DB_USER', {
    hint: 'set PITR_PG_DATA, or run it as a superuser, or GRANT pg_read_all_settings TO the user',
  });
}

/**
 * Writes PITR_CONFIG_DIR/<stanza>.conf (0600) and the stanza's state folders (0700), all owned by
 * the cluster's OS user when we are root. The file is replaced whole (rename), never half written.
 */
export async function writePgBackRestConfig(
  pitr: PitrConfig,
  settings: PgBackRestSettings,
): Promise<PgBackRest> {
  const { configFile, stateDir } = stanzaPaths(pitr.configDir, pitr.stanza);
  const owner = await ownerIds(pitr.pgUser);
  for (const dir of [pitr.configDir, stateDir, `${stateDir}/lock`, `${stateDir}/log`, `${stateDir}/spool`]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (owner) await chown(dir, owner.uid, owner.gid);
  }
  if (settings.repo.type === 's3' && settings.repo.caFile)
    await checkReadableBy(pitr.pgUser, settings.repo.caFile, 'PITR_S3_CA_FILE');
  const partial = `${configFile}.partial`;
  await writeFile(partial, pgBackRestConf(settings), { mode: 0o600 });
  if (owner) await chown(partial, owner.uid, owner.gid);
  await rename(partial, configFile);
  if (settings.repo.type === 'posix') {
    await mkdir(settings.repo.path, { recursive: true, mode: 0o750 });
    if (owner) await chown(settings.repo.path, owner.uid, owner.gid);
  }
  return pgBackRestOf(pitr);
}

export function pgBackRestOf(pitr: PitrConfig): PgBackRest {
  const repo = pitr.repo;
  const secrets = [pitr.cipherPass, repo.type === 's3' ? repo.secretAccessKey : undefined];
  return {
    configFile: stanzaPaths(pitr.configDir, pitr.stanza).configFile,
    stanza: pitr.stanza,
    user: pitr.pgUser,
    secrets: secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4),
  };
}

/** pgBackRest reads it as the cluster's user: a file only root may read fails there, obscurely. */
async function checkReadableBy(user: string, path: string, variable: string): Promise<void> {
  const me = userInfo().username;
  const run =
    me === user
      ? execa('test', ['-r', path], toolEnv())
      : execa('runuser', ['-u', user, '--', 'test', '-r', path], toolEnv());
  if ((await run.catch((error: unknown) => error as { exitCode?: number })).exitCode !== 0) {
    throw new BackupError(
      'Configuration',
      `${variable}: ${path} cannot be read by ${user}, as whom pgBackRest runs`,
      {
        hint: `give ${user} read access to the file and to its folders`,
      },
    );
  }
}

/** The uid and gid to give files to: only when we are root and pgBackRest runs as someone else. */
export async function ownerIds(user: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0 || user === 'root') return undefined;
  const id = async (flag: string) => Number((await execa('id', [flag, user], toolEnv())).stdout);
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new BackupError('Configuration', `PITR_PG_USER: no operating system user ${user} on this host`);
  }
}

export interface PgBackRestRun {
  stdout: string;
  stderr: string;
}

/**
 * `pgbackrest --config=FILE --stanza=S <command> [args]`, as the cluster's OS user (runuser when we
 * are root). A failure becomes a BackupError with pgBackRest's own ERROR line, secrets redacted.
 */
export async function runPgBackRest(
  br: PgBackRest,
  command: string,
  args: string[] = [],
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<PgBackRestRun> {
  const me = userInfo().username;
  const line = ['pgbackrest', `--config=${br.configFile}`, `--stanza=${br.stanza}`, command, ...args];
  if (me !== br.user && process.getuid?.() !== 0) {
    throw new BackupError(
      'Configuration',
      `pgBackRest must run as ${br.user}, the cluster's user, and this is ${me}`,
      {
        hint: `run backupctl as ${br.user} or as root, or set PITR_PG_USER`,
      },
    );
  }
  const [file, ...rest] = me === br.user ? line : ['runuser', '-u', br.user, '--', ...line];
  const result = await execa(file!, rest, {
    ...toolEnv(),
    cwd: '/',
    reject: false,
    stdin: 'ignore',
    cancelSignal: options.signal,
    timeout: options.timeoutMs,
  });
  const stdout = redact(String(result.stdout ?? ''), br.secrets);
  const stderr = redact(String(result.stderr ?? ''), br.secrets);
  if (
    // Run directly, execa reports ENOENT; through runuser, exit code 127 ("failed to execute pgbackrest").
    (result as { code?: string }).code === 'ENOENT' ||
    (result.exitCode === 127 && /pgbackrest/.test(stderr))
  ) {
    throw new BackupError('MissingDependency', 'pgbackrest is not installed', {
      hint: "install Debian's pgbackrest (scripts/setup.sh does)",
    });
  }
  if (result.isCanceled) {
    throw new BackupError('General', `pgbackrest ${command} was cancelled`, { retryable: true });
  }
  if (result.timedOut) {
    throw new BackupError('General', `pgbackrest ${command} did not end within ${options.timeoutMs} ms`, {
      retryable: true,
    });
  }
  if (result.failed) {
    const error = [...stderr.split('\n'), ...stdout.split('\n')].find((l) => /ERROR: \[\d+\]/.test(l));
    const detail =
      error?.replace(/^.*?ERROR: /, '').trim() ??
      (stderr.trim().split('\n').pop() || `exit code ${result.exitCode}`);
    // Retryable: a store or a network that failed once may not the next time (attempts are bounded).
    throw new BackupError('General', `pgbackrest ${command} failed: ${detail}`, {
      retryable: true,
      hint: `pgBackRest's log: ${br.configFile.replace(/\.conf$/, '')}/log; see docs/pitr.md#troubleshooting`,
    });
  }
  return { stdout, stderr };
}
