import type { Writable } from 'node:stream';
import type { ToolPlace } from '../core/command.js';
import { BackupError } from '../core/errors.js';
import { runPgTool, toolError } from './tools.js';

export interface TocReader {
  /** Feed the archive here; the reader may stop reading once it has the table of contents. */
  input: Writable;
  /** The number of TOC entries; rejects when pg_restore cannot read it or finds none. */
  entries: Promise<number>;
}

/**
 * The guide's verification, on the archive as it streams by: `pg_restore --list` must read its table
 * of contents. An error or an empty table of contents fails the backup.
 */
export function startTocReader(signal?: AbortSignal, place: ToolPlace = {}): TocReader {
  const reader = runPgTool(
    place,
    'pg_restore',
    ['--list'],
    {},
    {
      reject: false,
      cancelSignal: signal,
      stdin: 'pipe',
    },
  );
  // pg_restore exits once it has read the TOC: the rest of the archive is not its business.
  reader.stdin.on('error', () => undefined);
  const entries = reader.then((result) => {
    if (result.exitCode !== 0 || result.failed)
      throw toolError('pg_restore --list', result, 'DumpFailed', undefined, place.dockerContainer);
    const count = countTocEntries(result.stdout);
    if (count === 0) {
      throw new BackupError('DumpFailed', 'pg_restore --list found no entries in the archive', {
        retryable: false,
        hint: 'the database holds nothing to back up: check DB_NAME',
      });
    }
    return count;
  });
  return { input: reader.stdin, entries };
}

/** The entries in `pg_restore --list` output (comment lines start with ';'). */
export function countTocEntries(listing: string): number {
  return listing.split('\n').filter((line) => line.trim() !== '' && !line.startsWith(';')).length;
}
