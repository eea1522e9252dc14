import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { secretsOf, type Config, type DatabaseConfig } from '../src/config/index.js';
import type { ToolPlace } from '../src/core/command.js';
import { BackupError, configError } from '../src/core/errors.js';
import { formatStamp } from '../src/core/naming.js';
import { hostTaskQueueName } from '../src/core/plan.js';
import {
  isPartial,
  tablesInScope,
  type RestorePlan,
  type RestoreRequest,
  type TableInScope,
  type RestoreStatus,
} from '../src/core/restore.js';
import { timed } from '../src/core/timed.js';
import type { PrivateKey } from '../src/crypto/keys.js';
import { fetchCheckDecrypt, type FetchCheckDecryptResult, type StoredFile } from '../src/restore/fetch.js';
import { findBackup, type FoundBackup } from '../src/restore/source.js';
import {
  closeTarget,
  compareRowCounts,
  createDatabase,
  endOtherSessions,
  foreignKeysInto,
  inspectTarget,
  listArchive,
  reopenTarget,
  runPgRestore,
  runVerifySql,
  checkForce,
  targetDatabase,
  wholeTablesListOf,
} from '../src/restore/target.js';
import type { Stores } from '../src/storage/index.js';
import type { ThawState } from '../src/storage/types.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

/** What the first step found, and where the rest runs; every later step gets it first (routing). */
export interface ResolvedRestore {
  database: string;
  workflowId: string;
  backup: FoundBackup;
  /** The worker that resolved it fetches, decrypts and restores: the files stay on one host. */
  hostTaskQueue: string;
  /** BACKUP_DIR/.restore/<workflow id>: the download and the decrypted archive, removed at the end. */
  workDir: string;
  approvers: string[];
  approvalTimeoutSeconds: number;
  thawPollSeconds: number;
  jobs: number;
  retryAttempts: number;
  hasVerifySql: boolean;
}

export interface VerifyOutcome {
  tablesChecked: number;
  sqlChecks: boolean;
}

export function createRestoreActivities(config: Config, stores: Stores, privateKey: PrivateKey) {
  const secrets = secretsOf(config);
  const signal = () => Context.current().cancellationSignal;

  return {
    /** Runs on the restore queue: finds the backup, and checks this worker can decrypt it. */
    async resolveRestore(request: RestoreRequest & { workflowId: string }): Promise<ResolvedRestore> {
      return asActivity(secrets, async () => {
        // Refused before anything is read, fetched or connected to.
        targetDatabase(config, request.target);
        checkForce(config, request);
        const backup = await findBackup(config, stores, request.source);
        if (backup.manifest.encryption.method !== 'none' && !(await privateKey())) {
          throw configError(
            'GPG_PRIVATE_KEY_FILE: not set on this worker, and the backup is encrypted; restores run on workers that hold the private key',
          );
        }
        return {
          database: config.database.name,
          workflowId: request.workflowId,
          backup,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          workDir: join(config.backup.dir, '.restore', request.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')),
          approvers: config.restore.approvers,
          approvalTimeoutSeconds:
            request.approvalTimeoutSeconds ?? config.restore.approvalTimeoutMinutes * 60,
          thawPollSeconds: config.restore.thaw.pollSeconds,
          // In a container pg_restore reads the archive from stdin, in one pass (see runPgRestore).
          jobs: config.database.dockerContainer ? 1 : (request.jobs ?? config.restore.jobs),
          retryAttempts: config.backup.retryAttempts,
          hasVerifySql: Boolean(config.restore.verifySqlFile),
        };
      });
    },

    /** Whether the copy can be read now; asks the store to restore an archived object (once). */
    async thawBackup(resolved: ResolvedRestore): Promise<{ state: ThawState; storageClass?: string }> {
      return asActivity(secrets, async () => {
        const { backup } = resolved;
        const storageClass = backup.manifest.remote?.storageClass;
        if (backup.from !== 'remote' || !stores.remote?.thaw) return { state: 'readable', storageClass };
        return { state: await stores.remote.thaw(backup.key, config.restore.thaw), storageClass };
      });
    },

    /**
     * Fetch, check and decrypt, one after the other (see fetchCheckDecrypt): a remote copy is
     * downloaded into the work folder, resuming after what an earlier attempt kept; a local one is
     * read in place.
     */
    async fetchCheckDecrypt(resolved: ResolvedRestore): Promise<FetchCheckDecryptResult> {
      return asActivity(secrets, async () => {
        const { backup } = resolved;
        const { manifest } = backup;
        await mkdir(resolved.workDir, { recursive: true, mode: 0o700 });
        const files = workFiles(resolved);
        const source: StoredFile =
          backup.from === 'remote'
            ? { store: stores.remote!, key: backup.key, downloadPath: files.download }
            : { path: backup.from === 'file' ? backup.key : stores.local.pathOf(backup.key) };
        const opener = manifest.encryption.method === 'none' ? undefined : await privateKey();
        return heartbeating((record) =>
          fetchCheckDecrypt({
            source,
            manifest,
            where: backup.where,
            opener,
            archivePath: files.archive,
            // Implied by the file's SHA-256 and OpenPGP's integrity check, and it costs RTO.
            hashArchive: false,
            signal: signal(),
            onProgress: throttled((bytes) => record({ bytes })),
          }),
        );
      });
    },

    /** The guide's validation: pg_restore --list reads the whole table of contents. */
    async validateArchive(
      resolved: ResolvedRestore,
      archivePath: string,
    ): Promise<{ tocEntries: number; durationMs: number }> {
      return asActivity(secrets, () =>
        timed(async () => {
          const tocEntries = await listArchive(archivePath, config.database, signal());
          const expected = resolved.backup.manifest.archive.tocEntries;
          if (tocEntries !== expected) {
            throw new BackupError(
              'RestoreFailed',
              `pg_restore --list reads ${tocEntries} entries, the manifest recorded ${expected}`,
              { retryable: false },
            );
          }
          return { tocEntries };
        }),
      );
    },

    /** What will be replaced, where, and how old the backup is: for the approver, before any change. */
    async planRestore(resolved: ResolvedRestore, request: RestoreRequest, now: string): Promise<RestorePlan> {
      return asActivity(secrets, async () => {
        const { manifest } = resolved.backup;
        const db = targetDatabase(config, request.target);
        const inScope = tablesInScope(manifest, request);
        if (isPartial(request) && inScope.length === 0) {
          throw configError('--table/--schema/--use-list: selects no table of this backup');
        }
        const target = await inspectTarget(db, inScope);
        if (!target.exists && !request.createDb) {
          throw configError(
            `--target-db: database "${db.name}" does not exist on ${db.host}:${db.port}; pass --create-db to create it`,
          );
        }
        const scope = isPartial(request) ? 'partial' : 'full';
        if (scope === 'partial' && target.exists) await refuseForeignKeysInto(db, inScope);
        return {
          backup: {
            key: resolved.backup.key,
            location: resolved.backup.location,
            kind: manifest.kind,
            label: manifest.label,
            createdAt: manifest.createdAt,
            ageHours: Math.round(((Date.parse(now) - Date.parse(manifest.createdAt)) / 36e5) * 10) / 10,
            fileBytes: manifest.file.bytes,
            archiveBytes: manifest.archive.bytes,
            encrypted: manifest.encryption.method !== 'none',
            tocEntries: manifest.archive.tocEntries,
            serverVersion: manifest.serverVersion,
          },
          target: {
            host: db.host,
            port: db.port,
            database: db.name,
            exists: target.exists,
            create: !target.exists,
          },
          scope,
          tables: target.tables,
          schemas: [...new Set(target.tables.map((t) => t.schema))],
          jobs: resolved.jobs,
          steps: [
            ...(target.exists ? [] : [`create database "${db.name}"`]),
            `refuse new connections to "${db.name}" and end the open ones`,
            `pg_restore --clean --if-exists --jobs=${resolved.jobs}: replace ${scope === 'full' ? 'everything in the backup' : `${target.tables.length} tables`}`,
            ...(request.tables?.length
              ? [
                  'each table comes back whole: definition, rows, indexes, constraints, triggers, owned sequences',
                ]
              : []),
            `compare the row counts of ${target.tables.length} tables with the backup's`,
            ...(resolved.hasVerifySql ? [`run ${config.restore.verifySqlFile}`] : []),
          ],
        };
      });
    },

    /** After approval: creates the target if asked, then closes it to everyone else. */
    async prepareTarget(resolved: ResolvedRestore, plan: RestorePlan): Promise<{ connectionLimit: number }> {
      return asActivity(secrets, async () => {
        const db = targetDatabase(config, plan.target);
        if (plan.target.create) await createDatabase(db);
        // Kept on disk: a retry must put back the limit from before the first attempt, not our 0.
        const saved = join(resolved.workDir, 'connection-limit.json');
        const earlier = await readFile(saved, 'utf8').then(
          (text) => Number(JSON.parse(text)),
          () => undefined,
        );
        const limit = await closeTarget(db, plan.jobs);
        const original = earlier ?? limit;
        await mkdir(resolved.workDir, { recursive: true, mode: 0o700 });
        await writeFile(saved, JSON.stringify(original), { mode: 0o600 });
        return { connectionLimit: original };
      });
    },

    async restoreArchive(
      resolved: ResolvedRestore,
      plan: RestorePlan,
      input: { archivePath: string; request: RestoreRequest },
    ): Promise<{ durationMs: number }> {
      return asActivity(secrets, () =>
        timed(async () => {
          const { request } = input;
          const list = await selectionList(input.archivePath, request, plan.tables, config.database);
          const listPath = list === undefined ? undefined : join(resolved.workDir, 'restore.list');
          if (listPath) {
            await mkdir(resolved.workDir, { recursive: true, mode: 0o700 });
            await writeFile(listPath, list!, { mode: 0o600 });
          }
          const target = targetDatabase(config, plan.target);
          await endOtherSessions(target);
          await heartbeating(() =>
            runPgRestore(
              target,
              {
                archivePath: input.archivePath,
                jobs: plan.jobs,
                // A list says everything; --schema alone is pg_restore's own selection.
                schemas: listPath ? undefined : request.schemas,
                listPath,
                noOwner: request.noOwner,
              },
              signal(),
            ),
          );
          return {};
        }),
      );
    },

    async reopenTarget(resolved: ResolvedRestore, plan: RestorePlan, connectionLimit: number): Promise<void> {
      return asActivity(secrets, () => reopenTarget(targetDatabase(config, plan.target), connectionLimit));
    },

    /**
     * Row counts against the backup's, then the operator's SQL checks. Meanwhile the plaintext goes:
     * pg_restore is done with it, and removing a large file waits on the disk.
     */
    async verifyRestore(
      resolved: ResolvedRestore,
      plan: RestorePlan,
    ): Promise<VerifyOutcome & { durationMs: number }> {
      return asActivity(secrets, () =>
        timed(async () => {
          const db = targetDatabase(config, plan.target);
          const [counts] = await Promise.all([
            compareRowCounts(db, plan.tables, plan.jobs),
            rm(workFiles(resolved).archive, { force: true }),
          ]);
          if (counts.mismatches.length > 0) {
            const listed = counts.mismatches
              .slice(0, 5)
              .map((m) => `${m.schema}.${m.table} has ${m.found} rows, the backup had ${m.expected}`)
              .join('; ');
            throw new BackupError(
              'RestoreFailed',
              `row counts differ in ${counts.mismatches.length} tables: ${listed}`,
              {
                retryable: false,
              },
            );
          }
          if (config.restore.verifySqlFile) await runVerifySql(db, config.restore.verifySqlFile, signal());
          return { tablesChecked: counts.checked, sqlChecks: Boolean(config.restore.verifySqlFile) };
        }),
      );
    },

    /** Always last: writes BACKUP_DIR/logs/restore-<time>.log and removes the work folder (plaintext). */
    async finishRestore(
      resolved: ResolvedRestore,
      status: RestoreStatus,
      finishedAt: string,
    ): Promise<{ logPath: string }> {
      return asActivity(secrets, async () => {
        await rm(resolved.workDir, { recursive: true, force: true });
        const logs = join(config.backup.dir, 'logs');
        await mkdir(logs, { recursive: true, mode: 0o700 });
        const stamp = formatStamp(new Date(finishedAt), config.backup.timeZone);
        const logPath = join(
          logs,
          `restore-${stamp}-${resolved.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.log`,
        );
        await writeFile(logPath, restoreLog(resolved, status, finishedAt), { mode: 0o600 });
        return { logPath };
      });
    },
  };
}

/** A restore's large files, in its work folder: the download (kept for a resumed fetch) and the plaintext. */
function workFiles({ workDir, backup }: ResolvedRestore): { download: string; archive: string } {
  const name = backup.manifest.file.name;
  return { download: join(workDir, `${name}.download`), archive: join(workDir, name.replace(/\.gpg$/, '')) };
}

/**
 * The --use-list for a partial restore: the user's own, or, for --table, one that brings each
 * table back whole (with its indexes, constraints, triggers and sequences). None for --schema only.
 */
async function selectionList(
  archivePath: string,
  request: RestoreRequest,
  tables: TableInScope[],
  place: ToolPlace,
): Promise<string | undefined> {
  if (request.useList) return request.useList;
  if (request.tables?.length) return wholeTablesListOf(archivePath, tables, place);
  return undefined;
}

async function refuseForeignKeysInto(db: DatabaseConfig, tables: TableInScope[]): Promise<void> {
  const [first, ...others] = await foreignKeysInto(db, tables);
  if (!first) return;
  throw configError(
    `--table/--schema: ${first.from} has a foreign key (${first.constraint}) to ${first.to}${others.length ? ` (and ${others.length} more)` : ''}, so pg_restore --clean cannot replace ${first.to} alone`,
    `restore ${first.from} with it (another --table), or restore into a new database (--target-db D --create-db)`,
  );
}

/** Calls through at most about once a second. */
function throttled(report: (bytes: number) => void): (bytes: number) => void {
  let last = 0;
  return (bytes) => {
    const now = Date.now();
    if (now - last < 1_000) return;
    last = now;
    report(bytes);
  };
}

function restoreLog(resolved: ResolvedRestore, status: RestoreStatus, finishedAt: string): string {
  const { plan, decision } = status;
  return [
    `restore ${resolved.workflowId}: ${status.state} at ${finishedAt}`,
    `backup: ${resolved.backup.where} (taken ${resolved.backup.manifest.createdAt})`,
    ...(plan
      ? [
          `target: ${plan.target.database} on ${plan.target.host}:${plan.target.port} (${plan.scope}, ${plan.tables.length} tables)`,
        ]
      : []),
    ...(decision
      ? [
          `${decision.approved ? 'approved' : 'rejected'} by ${decision.by} at ${decision.at}${decision.reason ? `: ${decision.reason}` : ''}`,
        ]
      : []),
    ...status.refused.map((r) => `refused ${r.signal} from ${r.by ?? '(no name)'} at ${r.at}: ${r.why}`),
    ...status.phases.map(
      (p) => `${p.phase.padEnd(9)} ${(p.durationMs / 1000).toFixed(1).padStart(8)} s  ${p.detail}`,
    ),
    ...(status.error ? [`error: ${status.error}`] : []),
    ...(status.targetTouched && status.state === 'failed'
      ? ['the target may be partly restored: run the restore again']
      : []),
    '',
  ].join('\n');
}

export type RestoreActivities = ReturnType<typeof createRestoreActivities>;
