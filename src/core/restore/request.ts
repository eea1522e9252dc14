// What a user asks a restore to do. Workflows import it, so it stays free of Node modules.

/** Where the backup comes from: a file on the worker's host, a key in the bucket, or the newest. */
export type RestoreSource =
  | { file: string }
  | { s3Key: string }
  | { latest: true; /** ISO time: the newest backup taken before it. */ before?: string };

export interface RestoreTarget {
  /** Defaults to DB_NAME: the database the backup was taken of. */
  database?: string;
  /** Defaults to DB_HOST and DB_PORT. */
  host?: string;
  port?: number;
}

export interface RestoreRequest {
  /** DB_NAME of the configuration whose backups to read; may be left out when workers have one. */
  database?: string;
  source: RestoreSource;
  target?: RestoreTarget;
  /** Create the target database when it does not exist. */
  createDb?: boolean;
  /** Partial restore, as pg_restore --table / --schema / --use-list (the list's text). */
  tables?: string[];
  schemas?: string[];
  useList?: string;
  /** Leave ownership to the restoring user (pg_restore --no-owner), for a cluster without the roles. */
  noOwner?: boolean;
  /** Stop after the plan: the target is not touched. */
  dryRun?: boolean;
  /** Skip the approval (the guide's --force, for automated restores). */
  force?: boolean;
  /**
   * Accept an unsigned backup (old backups, from before signing): logged, recorded in the plan, and
   * refused by a production worker. Never accepts a bad signature or an unknown signer.
   */
  allowUnsigned?: boolean;
  /** pg_restore --jobs; RESTORE_JOBS when left out. */
  jobs?: number;
  /** How long to wait for approval, in seconds; RESTORE_APPROVAL_TIMEOUT_MINUTES when left out. */
  approvalTimeoutSeconds?: number;
}

/** The part of a request that selects tables, as pg_restore --table / --schema / --use-list do. */
export type TableSelection = Pick<RestoreRequest, 'tables' | 'schemas' | 'useList'>;

export function isPartial(selection: TableSelection): boolean {
  return Boolean(selection.tables?.length || selection.schemas?.length || selection.useList);
}
