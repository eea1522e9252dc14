import type { Manifest } from './manifest.js';
import { manifestKeyFor } from './naming.js';

// The restore's pure core: what to restore, into what, what it replaces, and the pg_restore command.
// Workflows import it, so it stays free of Node modules.

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
  /** pg_restore --jobs; RESTORE_JOBS when left out. */
  jobs?: number;
  /** How long to wait for approval, in seconds; RESTORE_APPROVAL_TIMEOUT_MINUTES when left out. */
  approvalTimeoutSeconds?: number;
}

export const RESTORE_STATES = [
  'resolving',
  'thawing',
  /** Fetching, checking and decrypting: one activity, one step after the other. */
  'fetching',
  'validating',
  'planning',
  'awaiting-approval',
  'restoring',
  'verifying',
  'completed',
  'dry-run-completed',
  'rejected',
  'failed',
] as const;
export type RestoreState = (typeof RESTORE_STATES)[number];

/** The phases whose times make the measured RTO (the wait for a human is reported apart). */
export const RESTORE_PHASES = [
  'resolve',
  'thaw',
  'fetch',
  'check',
  'decrypt',
  'validate',
  'plan',
  'approval',
  'prepare',
  'restore',
  'verify',
] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

export interface TableInScope {
  schema: string;
  table: string;
  /** Rows the table had when the backup was taken (from the dump's own snapshot). */
  rowsInBackup: number;
  /** The table's size in the target now (pg_total_relation_size); absent when it does not exist. */
  currentBytes?: number;
}

/** What the restore will do, published before anything is touched, for the approver to read. */
export interface RestorePlan {
  backup: {
    key: string;
    location: string;
    kind: Manifest['kind'];
    label?: string;
    createdAt: string;
    ageHours: number;
    fileBytes: number;
    archiveBytes: number;
    encrypted: boolean;
    tocEntries: number;
    serverVersion: string;
  };
  target: { host: string; port: number; database: string; exists: boolean; create: boolean };
  scope: 'full' | 'partial';
  /** The tables that will be replaced (dropped and restored). */
  tables: TableInScope[];
  schemas: string[];
  jobs: number;
  /** What a dry run would have done next, in one line per step. */
  steps: string[];
}

export interface Decision {
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
}

/** A signal the workflow refused (unknown approver, no name, too early), kept for the audit trail. */
export interface RefusedSignal {
  signal: 'approve' | 'reject';
  by?: string;
  reason?: string;
  at: string;
  why: string;
}

export interface RestoreStatus {
  state: RestoreState;
  plan?: RestorePlan;
  phases: { phase: RestorePhase; durationMs: number; detail: string }[];
  decision?: Decision;
  refused: RefusedSignal[];
  /** True from the moment pg_restore may have changed the target: after a failure, it may be partial. */
  targetTouched: boolean;
  error?: string;
}

export interface ApprovalInput {
  by: string;
  reason?: string;
}

/**
 * A key the user typed, relative to S3_PREFIX: with or without the prefix (the guide lists them
 * with it), never escaping it. Undefined when the key is not a backup's data.
 */
export function relativeS3Key(key: string, prefix: string): string | undefined {
  const relative = prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const segments = relative.split('/');
  if (relative.startsWith('/') || segments.some((s) => s === '..' || s === '.' || s === '')) return undefined;
  return manifestKeyFor(relative) ? relative : undefined;
}

/** The newest backup taken before a time (or the newest of all), of those given newest first. */
export function newestBefore<T extends { manifest: Manifest }>(entries: T[], before?: string): T | undefined {
  const limit = before ? new Date(before).getTime() : Infinity;
  return entries.find((e) => new Date(e.manifest.createdAt).getTime() < limit);
}

/**
 * The tables a restore replaces: all of the backup's, or those --table / --schema / --use-list
 * select (pg_restore's rules: --table matches a name in any schema unless --schema narrows it).
 */
export function tablesInScope(
  manifest: Pick<Manifest, 'tables'>,
  selection: Pick<RestoreRequest, 'tables' | 'schemas' | 'useList'>,
): TableInScope[] {
  const listed = selection.useList ? activeListLines(selection.useList) : undefined;
  return manifest.tables
    .filter((t) => !selection.schemas?.length || selection.schemas.includes(t.schema))
    .filter((t) => !selection.tables?.length || selection.tables.includes(t.table))
    .filter((t) => !listed || listed.some((line) => line.includes(` TABLE DATA ${t.schema} ${t.table} `)))
    .map((t) => ({ schema: t.schema, table: t.table, rowsInBackup: t.rows }));
}

export function isPartial(selection: Pick<RestoreRequest, 'tables' | 'schemas' | 'useList'>): boolean {
  return Boolean(selection.tables?.length || selection.schemas?.length || selection.useList);
}

/**
 * The entries a `pg_restore --list` file keeps: those not commented out with ';'. Table data reads
 * "<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>"; names are matched whole, spaces and all.
 */
function activeListLines(list: string): string[] {
  return list.split('\n').filter((line) => /^\s*\d+;/.test(line));
}

const IDENT = String.raw`"(?:[^"]|"")*"|[^\s."]+`;
const CREATE_INDEX = new RegExp(
  String.raw`^CREATE (?:UNIQUE )?INDEX (${IDENT}) ON (?:ONLY )?(${IDENT})\.(${IDENT}) `,
  'gm',
);
const SEQUENCE_OWNED = new RegExp(
  String.raw`^ALTER SEQUENCE (${IDENT})\.(${IDENT}) OWNED BY (${IDENT})\.(${IDENT})\.(?:${IDENT});`,
  'gm',
);

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/**
 * The `pg_restore --use-list` that restores whole tables: pg_restore --table alone restores a
 * table's definition and rows but not its indexes, constraints, triggers, defaults or owned
 * sequences. toc is `pg_restore --list`; schemaSql is `pg_restore --schema-only -f -`, which says
 * what each index and sequence belongs to (the list does not).
 */
export function wholeTablesList(
  toc: string,
  schemaSql: string,
  tables: { schema: string; table: string }[],
): string {
  const owned = (pattern: RegExp, ownerGroups: [number, number], nameGroup: number) =>
    [...schemaSql.matchAll(pattern)].map((m) => ({
      schema: unquote(m[ownerGroups[0]]!),
      table: unquote(m[ownerGroups[1]]!),
      name: unquote(m[nameGroup]!),
    }));
  const indexes = owned(CREATE_INDEX, [2, 3], 1);
  const sequences = owned(SEQUENCE_OWNED, [3, 4], 2);
  const prefixes = tables.flatMap(({ schema: s, table: t }) => {
    const mine = (list: typeof indexes) =>
      list.filter((x) => x.schema === s && x.table === t).map((x) => x.name);
    return [
      ...['TABLE', 'TABLE DATA', 'CONSTRAINT', 'FK CONSTRAINT', 'TRIGGER', 'DEFAULT'].map(
        (type) => `${type} ${s} ${t} `,
      ),
      `COMMENT ${s} TABLE ${t} `,
      `ACL ${s} TABLE ${t} `,
      ...mine(indexes).map((name) => `INDEX ${s} ${name} `),
      ...mine(sequences).flatMap((name) =>
        ['SEQUENCE', 'SEQUENCE SET', 'SEQUENCE OWNED BY'].map((type) => `${type} ${s} ${name} `),
      ),
    ];
  });
  const kept = activeListLines(toc).filter((line) => {
    const entry = line.replace(/^\s*\d+;\s+\d+\s+\d+\s+/, '');
    return prefixes.some((prefix) => entry.startsWith(prefix));
  });
  return `${kept.join('\n')}\n`;
}

/** Whether a name may approve: anyone when no list is configured. */
export function mayApprove(approvers: readonly string[], by: string): boolean {
  return approvers.length === 0 || approvers.includes(by);
}

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
