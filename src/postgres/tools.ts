import { execa, type Options, type Result } from 'execa';
import type { DatabaseConfig } from '../config/index.js';
import { toolCommandLine, type ToolPlace } from '../core/command.js';
import { BackupError, type ErrorKind } from '../core/errors.js';
import { dockerClientEnv, toolEnv } from '../process/env.js';

/**
 * Runs a PostgreSQL client tool with `vars` (PGHOST, PGPASSWORD...) in its environment: here, or in
 * the database's container through `docker exec -e NAME`, which hands each variable on by name.
 */
export function runPgTool<O extends Options>(
  place: ToolPlace,
  tool: string,
  args: string[],
  vars: Record<string, string>,
  options: O,
) {
  const line = toolCommandLine(tool, args, [...Object.keys(vars), 'LC_MESSAGES'], place);
  const docker = place.dockerContainer ? dockerClientEnv() : {};
  return execa(line.file, line.args, { ...options, ...toolEnv({ ...docker, ...vars }) });
}

const PERMANENT_MESSAGES: [RegExp, string][] = [
  [/password authentication failed/i, 'password authentication failed'],
  [/no password supplied/i, 'the server asks for a password and DB_PASSWORD is not set'],
  [/database ".*" does not exist/i, 'database does not exist'],
  [/role ".*" does not exist/i, 'role does not exist'],
  [/permission denied/i, 'permission denied'],
  [
    /server version mismatch|aborting because of server version mismatch/i,
    'pg_dump is older than the server',
  ],
];

const INSTALL_HINT = 'install postgresql-client of the server major version (scripts/setup.sh does)';

/** A typed error from a failed pg_dump / pg_restore run, with the first stderr line that explains it. */
export function toolError(
  tool: string,
  result: Result,
  kind: ErrorKind,
  db?: DatabaseConfig,
  container = db?.dockerContainer,
): BackupError {
  const docker = container === undefined ? undefined : dockerError(tool, result, kind, container);
  if (docker) return docker;
  if ((result as { code?: string }).code === 'ENOENT') {
    return new BackupError('MissingDependency', `${tool} is not installed`, { hint: INSTALL_HINT });
  }
  if (result.isCanceled) return new BackupError(kind, `${tool} was cancelled`, { retryable: true });
  const stderr = String(result.stderr ?? '');
  const where = db ? ` (database "${db.name}" at ${db.host}:${db.port})` : '';
  for (const [pattern, reason] of PERMANENT_MESSAGES) {
    if (pattern.test(stderr))
      return new BackupError(kind, `${tool} failed${where}: ${reason}`, { retryable: false });
  }
  // The line with the level first: pg_restore's context line before it ("from TOC entry 3349; 0
  // 16548 TABLE DATA public error_log postgres") may hold the word too.
  const lines = stderr.split('\n');
  const line =
    lines.find((l) => /\b(error|fatal):/i.test(l)) ??
    lines.find((l) => /error|fatal/i.test(l)) ??
    lines[0] ??
    '';
  const detail = line.replace(/^\S+: (error: )?/, '').trim() || `exit code ${result.exitCode}`;
  return new BackupError(kind, `${tool} failed${where}: ${detail}`, { retryable: true });
}

const TOOLS_IN_IMAGE = 'use an image that has the PostgreSQL client tools (the postgres images do)';

/** What `docker exec` itself says when it cannot run the tool (USE_DOCKER); undefined if it ran it. */
export function dockerError(
  tool: string,
  result: Result,
  kind: ErrorKind,
  container: string,
  missingToolHint = TOOLS_IN_IMAGE,
): BackupError | undefined {
  const stderr = String(result.stderr ?? '');
  if ((result as { code?: string }).code === 'ENOENT') {
    return new BackupError('MissingDependency', `docker is not installed or not on PATH (USE_DOCKER=true)`, {
      hint: `install the Docker CLI on the worker's host, or set USE_DOCKER=false to run ${tool} here`,
    });
  }
  if (/no such container/i.test(stderr)) {
    return new BackupError(kind, `container "${container}" does not exist (DOCKER_CONTAINER)`, {
      retryable: false,
      hint: 'set DOCKER_CONTAINER to the database container, as `docker ps` names it',
    });
  }
  if (/is not running|is paused|is restarting/i.test(stderr)) {
    return new BackupError(kind, `container "${container}" is not running`, {
      retryable: true,
      hint: `start it (docker start ${container}) and run again`,
    });
  }
  if (/executable file not found|exec: .*: not found/i.test(stderr)) {
    return new BackupError('MissingDependency', `${tool} is not installed in container "${container}"`, {
      hint: missingToolHint,
    });
  }
  if (/docker daemon/i.test(stderr)) {
    const line = stderr.split('\n').find((l) => /docker daemon/i.test(l))!;
    return new BackupError(kind, `docker cannot reach its daemon: ${line.trim()}`, {
      retryable: false,
      hint: "check that the worker's user may use docker (the docker group) and DOCKER_HOST",
    });
  }
  return undefined;
}

/**
 * The guide's exit code 2: the tools a backup needs must be there before any work starts. With
 * USE_DOCKER they run in the container, which may be down now: only docker itself is checked here,
 * a missing tool in the container fails the run that needs it (toolError).
 */
export async function checkDependencies(
  databases: ToolPlace[],
  options: { zstd?: boolean; prlimit?: boolean } = {},
): Promise<void> {
  const needed = new Set<string>();
  for (const db of databases) {
    if (db.dockerContainer) needed.add('docker');
    else ['pg_dump', 'pg_restore'].forEach((tool) => needed.add(tool));
  }
  // zstd runs beside the worker, also with USE_DOCKER: it compresses what comes out of pg_dump.
  if (options.zstd) needed.add('zstd');
  // A restore decompresses under prlimit --fsize, the cap that stops a zstd bomb at the manifest's size.
  if (options.prlimit) needed.add('prlimit');
  for (const tool of needed) {
    const result = await execa(tool, ['--version'], {
      ...toolEnv(tool === 'docker' ? dockerClientEnv() : {}),
      reject: false,
    });
    if (result.failed) {
      throw new BackupError('MissingDependency', `${tool} is not installed or not on PATH`, {
        hint:
          tool === 'docker'
            ? "USE_DOCKER=true runs the PostgreSQL tools through docker exec: install the Docker CLI on the worker's host"
            : tool === 'zstd'
              ? 'BACKUP_COMPRESSION=zstd (the default) needs it: install zstd (scripts/setup.sh does), or set BACKUP_COMPRESSION=gzip'
              : tool === 'prlimit'
                ? "a restore worker decompresses zstd backups under prlimit: install util-linux (Debian's base system has it)"
                : INSTALL_HINT,
      });
    }
  }
}
