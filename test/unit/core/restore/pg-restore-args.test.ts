import { describe, expect, it } from 'vitest';
import { conninfoDatabase, pgRestoreArgs } from '../../../../src/core/restore/pg-restore-args.js';

describe('pgRestoreArgs', () => {
  it('cleans before restoring, stops on the first error, and quotes the database as conninfo', () => {
    const args = pgRestoreArgs({
      archivePath: '/w/a.dump',
      database: "it's db",
      jobs: 4,
      schemas: ['billing'],
    });
    expect(args).toEqual([
      "--dbname=dbname='it\\'s db'",
      '--jobs=4',
      '--clean',
      '--if-exists',
      '--exit-on-error',
      '--schema=billing',
      '/w/a.dump',
    ]);
  });

  it('reads stdin without an archive path, and takes a list and --no-owner', () => {
    expect(pgRestoreArgs({ database: 'app', jobs: 1, listPath: '/w/restore.list', noOwner: true })).toEqual([
      "--dbname=dbname='app'",
      '--jobs=1',
      '--clean',
      '--if-exists',
      '--exit-on-error',
      '--no-owner',
      '--use-list=/w/restore.list',
    ]);
  });

  it('escapes backslashes in conninfo', () => {
    expect(conninfoDatabase('a\\b')).toBe("dbname='a\\\\b'");
  });
});
