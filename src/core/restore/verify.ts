import { BackupError } from '../errors.js';

// The restore's checks against what the backup's manifest recorded. A difference fails the restore
// for good: a retry would read the same archive and find the same.

/** pg_restore --list must read as many entries as pg_dump's archive had when it was verified. */
export function checkTocEntries(read: number, recorded: number): void {
  if (read === recorded) return;
  throw new BackupError(
    'RestoreFailed',
    `pg_restore --list reads ${read} entries, the manifest recorded ${recorded}`,
    {
      retryable: false,
    },
  );
}

export interface RowCountMismatch {
  schema: string;
  table: string;
  expected: number;
  found: number;
}

/** Every restored table must hold the rows the backup counted; the message names the first five. */
export function checkRowCounts(mismatches: RowCountMismatch[]): void {
  if (mismatches.length === 0) return;
  const listed = mismatches
    .slice(0, 5)
    .map((m) => `${m.schema}.${m.table} has ${m.found} rows, the backup had ${m.expected}`)
    .join('; ');
  throw new BackupError('RestoreFailed', `row counts differ in ${mismatches.length} tables: ${listed}`, {
    retryable: false,
  });
}
