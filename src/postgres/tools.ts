import { execa, type Result } from 'execa';
import type { DatabaseConfig } from '../config/index.js';
import { BackupError, type ErrorKind } from '../core/errors.js';
import { toolEnv } from '../process/env.js';

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

/** A typed error from a failed pg_dump / pg_restore run, with the first stderr line that explains it. */
export function toolError(tool: string, result: Result, kind: ErrorKind, db?: DatabaseConfig): BackupError {
  if ((result as { code?: string }).code === 'ENOENT') {
    return new BackupError('MissingDependency', `${tool} is not installed`, {
      hint: 'install postgresql-client of the server major version (scripts/setup.sh does)',
    });
  }
  if (result.isCanceled) return new BackupError(kind, `${tool} was cancelled`, { retryable: true });
  const stderr = String(result.stderr ?? '');
  const where = db ? ` (database "${db.name}" at ${db.host}:${db.port})` : '';
  for (const [pattern, reason] of PERMANENT_MESSAGES) {
    if (pattern.test(stderr))
      return new BackupError(kind, `${tool} failed${where}: ${reason}`, { retryable: false });
  }
  const line = stderr.split('\n').find((l) => /error|fatal/i.test(l)) ?? stderr.split('\n')[0] ?? '';
  const detail = line.replace(/^\S+: (error: )?/, '').trim() || `exit code ${result.exitCode}`;
  return new BackupError(kind, `${tool} failed${where}: ${detail}`, { retryable: true });
}

/** The guide's exit code 2: the tools a backup needs must be on PATH before any work starts. */
export async function checkDependencies(tools = ['pg_dump', 'pg_restore']): Promise<void> {
  for (const tool of tools) {
    const result = await execa(tool, ['--version'], { ...toolEnv(), reject: false });
    if (result.failed) {
      throw new BackupError('MissingDependency', `${tool} is not installed or not on PATH`, {
        hint: 'install postgresql-client of the server major version (scripts/setup.sh does)',
      });
    }
  }
}
