import { configError, type BackupError } from '../errors.js';
import { isEncrypted, type Manifest } from '../manifest.js';
import { isPartial, type RestoreRequest, type TableSelection } from './request.js';
import { activeListLines } from './toc.js';

// The plan an approver reads before anything is touched: which tables a restore replaces, where,
// from how old a backup, and the steps it will take.

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
    /** Who signed it: a trusted key's fingerprint, or 'unsigned' when --allow-unsigned accepted it. */
    signedBy?: string;
    /** Newer backups passed over as untrusted, each with its reason. */
    passedOver?: string[];
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

/**
 * The tables a restore replaces: all of the backup's, or those --table / --schema / --use-list
 * select (pg_restore's rules: --table matches a name in any schema unless --schema narrows it).
 */
export function tablesInScope(manifest: Pick<Manifest, 'tables'>, selection: TableSelection): TableInScope[] {
  const listed = selection.useList ? activeListLines(selection.useList) : undefined;
  return manifest.tables
    .filter((t) => !selection.schemas?.length || selection.schemas.includes(t.schema))
    .filter((t) => !selection.tables?.length || selection.tables.includes(t.table))
    .filter((t) => !listed || listed.some((line) => line.includes(` TABLE DATA ${t.schema} ${t.table} `)))
    .map((t) => ({ schema: t.schema, table: t.table, rowsInBackup: t.rows }));
}

/** tablesInScope, refusing a partial restore that selects none of the backup's tables. */
export function tablesToReplace(
  manifest: Pick<Manifest, 'tables'>,
  selection: TableSelection,
): TableInScope[] {
  const inScope = tablesInScope(manifest, selection);
  if (isPartial(selection) && inScope.length === 0) {
    throw configError('--table/--schema/--use-list: selects no table of this backup');
  }
  return inScope;
}

/** What the plan is made of: the backup found, the target as it is now, and the request. */
export interface PlanFacts {
  backup: { key: string; location: string; manifest: Manifest; signer?: string; skipped?: string[] };
  /** The target's place, whether it exists, and the tables in scope with their current sizes. */
  target: { host: string; port: number; name: string; exists: boolean; tables: TableInScope[] };
  request: Pick<RestoreRequest, 'tables' | 'schemas' | 'useList' | 'createDb'>;
  jobs: number;
  /** RESTORE_VERIFY_SQL_FILE when set: the last step runs it. */
  verifySqlFile?: string;
  /** When the plan is made (ISO): the backup's age is counted to it. */
  now: string;
}

/** The plan; refuses a target that does not exist unless the request says to create it. */
export function restorePlan({ backup, target, request, jobs, verifySqlFile, now }: PlanFacts): RestorePlan {
  const { manifest } = backup;
  if (!target.exists && !request.createDb) {
    throw configError(
      `--target-db: database "${target.name}" does not exist on ${target.host}:${target.port}; pass --create-db to create it`,
    );
  }
  const scope = isPartial(request) ? 'partial' : 'full';
  return {
    backup: {
      key: backup.key,
      location: backup.location,
      kind: manifest.kind,
      label: manifest.label,
      createdAt: manifest.createdAt,
      ageHours: Math.round(((Date.parse(now) - Date.parse(manifest.createdAt)) / 36e5) * 10) / 10,
      fileBytes: manifest.file.bytes,
      archiveBytes: manifest.archive.bytes,
      encrypted: isEncrypted(manifest),
      tocEntries: manifest.archive.tocEntries,
      serverVersion: manifest.serverVersion,
      signedBy: backup.signer ?? 'unsigned',
      ...(backup.skipped?.length ? { passedOver: backup.skipped } : {}),
    },
    target: {
      host: target.host,
      port: target.port,
      database: target.name,
      exists: target.exists,
      create: !target.exists,
    },
    scope,
    tables: target.tables,
    schemas: [...new Set(target.tables.map((t) => t.schema))],
    jobs,
    steps: [
      ...(target.exists ? [] : [`create database "${target.name}"`]),
      `refuse new connections to "${target.name}" and end the open ones`,
      `pg_restore --clean --if-exists --jobs=${jobs}: replace ${scope === 'full' ? 'everything in the backup' : `${target.tables.length} tables`}`,
      ...(request.tables?.length
        ? ['each table comes back whole: definition, rows, indexes, constraints, triggers, owned sequences']
        : []),
      `compare the row counts of ${target.tables.length} tables with the backup's`,
      ...(verifySqlFile ? [`run ${verifySqlFile}`] : []),
    ],
  };
}

/**
 * Why a partial restore cannot go on when tables it leaves alone have foreign keys to tables it
 * replaces (pg_restore --clean cannot drop them); undefined when none do.
 */
export function foreignKeysRefusal(
  keys: { from: string; to: string; constraint: string }[],
): BackupError | undefined {
  const [first, ...others] = keys;
  if (!first) return undefined;
  return configError(
    `--table/--schema: ${first.from} has a foreign key (${first.constraint}) to ${first.to}${others.length ? ` (and ${others.length} more)` : ''}, so pg_restore --clean cannot replace ${first.to} alone`,
    `restore ${first.from} with it (another --table), or restore into a new database (--target-db D --create-db)`,
  );
}
