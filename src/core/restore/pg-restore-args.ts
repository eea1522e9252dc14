// The pg_restore command line (src/restore/target.ts runs it).

export interface PgRestoreOptions {
  /** Left out, pg_restore reads the archive from stdin (USE_DOCKER: the container cannot see the file). */
  archivePath?: string;
  database: string;
  jobs: number;
  schemas?: string[];
  /** Path of the --use-list file on the worker. */
  listPath?: string;
  noOwner?: boolean;
}

/**
 * The pg_restore command line. --clean --if-exists drops what it restores first, so a retry after a
 * cut restore starts clean; --exit-on-error makes a failure a failure, not a count of ignored errors.
 * The password never appears here (PGPASSWORD).
 */
export function pgRestoreArgs(options: PgRestoreOptions): string[] {
  return [
    `--dbname=${conninfoDatabase(options.database)}`,
    `--jobs=${options.jobs}`,
    '--clean',
    '--if-exists',
    '--exit-on-error',
    ...(options.noOwner ? ['--no-owner'] : []),
    ...(options.schemas ?? []).map((s) => `--schema=${s}`),
    ...(options.listPath ? [`--use-list=${options.listPath}`] : []),
    ...(options.archivePath ? [options.archivePath] : []),
  ];
}

/** A database name as a libpq conninfo (a bare name with '=' or spaces would be misread). */
export function conninfoDatabase(name: string): string {
  return `dbname='${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
