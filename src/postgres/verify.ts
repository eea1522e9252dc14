import { execa } from 'execa';
import { BackupError } from '../core/errors.js';
import { toolError } from './tools.js';

/**
 * The guide's verification: pg_restore --list must read the archive's table of contents. An error
 * or an empty table of contents fails the backup. Returns the number of TOC entries.
 */
export async function verifyArchive(archivePath: string, signal?: AbortSignal): Promise<number> {
  const result = await execa('pg_restore', ['--list', archivePath], {
    reject: false,
    cancelSignal: signal,
    stdin: 'ignore',
  });
  if (result.exitCode !== 0 || result.failed) throw toolError('pg_restore --list', result, 'DumpFailed');
  const entries = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
  if (entries === 0) {
    throw new BackupError('DumpFailed', 'pg_restore --list found no entries in the archive', {
      retryable: false,
      hint: 'the database holds nothing to back up: check DB_NAME',
    });
  }
  return entries;
}
