import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Result } from 'execa';
import { describe, expect, it } from 'vitest';
import type { BackupError } from '../../../src/core/errors.js';
import { checkDependencies, toolError } from '../../../src/postgres/tools.js';

describe('toolError', () => {
  const db = { host: 'localhost', port: 5432, name: 'app', user: 'postgres', sslMode: 'prefer' as const };
  const failed = (stderr: string) => ({ failed: true, exitCode: 1, stderr }) as unknown as Result;

  // What pg_restore 15 printed when a table's data could not be loaded: its context lines first.
  it("names the error, not a context line that holds the word in a table's name", () => {
    const error = toolError(
      'pg_restore',
      failed(
        [
          'pg_restore: while PROCESSING TOC:',
          'pg_restore: from TOC entry 3349; 0 16548 TABLE DATA public error_log postgres',
          'pg_restore: error: COPY failed for table "error_log": ERROR:  value too long for type character varying(8)',
        ].join('\n'),
      ),
      'RestoreFailed',
      db,
    );
    expect(error.message).toBe(
      'pg_restore failed (database "app" at localhost:5432): COPY failed for table "error_log": ERROR:  value too long for type character varying(8)',
    );
    expect(error.retryable).toBe(true);
  });

  it('falls back to the first line that mentions an error, then to the first line', () => {
    expect(
      toolError('pg_dump', failed('pg_dump: connection lost: FATAL  terminating\n'), 'DumpFailed').message,
    ).toBe('pg_dump failed: connection lost: FATAL  terminating');
    expect(toolError('pg_dump', failed('something odd\n'), 'DumpFailed').message).toBe(
      'pg_dump failed: something odd',
    );
  });
});

describe('the tools a worker checks when it starts', () => {
  it('names prlimit, which a restore worker needs, and how to get it', async () => {
    const path = process.env.PATH;
    // A PATH with zstd but without prlimit: only the restore's size cap is missing.
    const folder = mkdtempSync(join(tmpdir(), 'only-zstd-'));
    symlinkSync('/usr/bin/zstd', join(folder, 'zstd'));
    process.env.PATH = folder;
    try {
      await expect(checkDependencies([], { zstd: true })).resolves.toBeUndefined();
      const error = await checkDependencies([], { zstd: true, prlimit: true }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        kind: 'MissingDependency',
        message: 'prlimit is not installed or not on PATH',
      });
      expect((error as BackupError).hint).toMatch(/util-linux/);
    } finally {
      process.env.PATH = path;
    }
  });
});
