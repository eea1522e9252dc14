import { describe, expect, it } from 'vitest';
import { BackupError } from '../../../../src/core/errors.js';
import { checkRowCounts, checkTocEntries } from '../../../../src/core/restore/verify.js';

function thrown(work: () => void): BackupError | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    return error as BackupError;
  }
}

describe('checkTocEntries', () => {
  it('passes the count the manifest recorded, and fails any other for good', () => {
    expect(thrown(() => checkTocEntries(36, 36))).toBeUndefined();
    const error = thrown(() => checkTocEntries(35, 36));
    expect(error?.kind).toBe('RestoreFailed');
    expect(error?.retryable).toBe(false);
    expect(error?.message).toBe('pg_restore --list reads 35 entries, the manifest recorded 36');
  });
});

describe('checkRowCounts', () => {
  it('fails for good, naming the first five tables that differ and counting all', () => {
    expect(thrown(() => checkRowCounts([]))).toBeUndefined();
    const mismatches = Array.from({ length: 6 }, (_, i) => ({
      schema: 'public',
      table: `t${i}`,
      expected: 10,
      found: i,
    }));
    const error = thrown(() => checkRowCounts(mismatches));
    expect(error?.kind).toBe('RestoreFailed');
    expect(error?.retryable).toBe(false);
    expect(error?.message).toBe(
      'row counts differ in 6 tables: public.t0 has 0 rows, the backup had 10; public.t1 has 1 rows, the backup had 10; ' +
        'public.t2 has 2 rows, the backup had 10; public.t3 has 3 rows, the backup had 10; public.t4 has 4 rows, the backup had 10',
    );
  });
});
