import { Context, log } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { configError } from '../src/core/errors.js';
import { formatStamp } from '../src/core/naming.js';
import type { StepProgress } from '../src/core/progress.js';
import { restoreLog } from '../src/core/restore/log.js';
import { hostRestoreTaskQueueName, hostTaskQueueName } from '../src/temporal/names.js';
import {
  foreignKeysRefusal,
  restorePlan,
  tablesToReplace,
  type RestorePlan,
} from '../src/core/restore/plan.js';
import { isPartial, type RestoreRequest } from '../src/core/restore/request.js';
import type { RestoreStatus } from '../src/core/restore/status.js';
import { checkRowCounts, checkTocEntries } from '../src/core/restore/verify.js';
import { timed } from '../src/core/timed.js';
import { openerForBackup, type PrivateKey } from '../src/crypto/keys.js';
import { fetchCheckDecrypt, type FetchCheckDecryptResult, type StoredFile } from '../src/restore/fetch.js';
import {
  closeKeepingLimit,
  savedConnectionLimit,
  finishFiles,
  makeWorkDir,
  removePlaintext,
  restoreWorkDir,
  workFiles,
  writeUseList,
} from '../src/restore/files.js';
import {
  approvalSettings,
  planDigest,
  signedApprovalRefusal,
  type ApprovalToCheck,
} from '../src/restore/approval.js';
import { findBackup, restoreTrustPolicy, type FoundBackup } from '../src/restore/source.js';
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
  checkTarget,
  checkForcedTarget,
  selectionList,
  targetDatabase,
} from '../src/restore/target.js';
import type { Stores } from '../src/storage/index.js';
import type { LocalStore, ThawState } from '../src/storage/types.js';
import { asActivity, withStepsDone } from './failure.js';
import { heartbeating } from './heartbeat.js';

/** What the first step found, and where the rest runs; every later step gets it first (routing). */
export interface ResolvedRestore {
  database: string;
  workflowId: string;
  backup: FoundBackup;
  /** The worker that resolved it fetches, decrypts and restores: the files stay on one host. */
  hostTaskQueue: string;
  /**
   * The same host's queue for the heavy steps (fetch and decrypt; close, restore, verify and reopen),
   * polled with WORKER_MAX_CONCURRENT_RESTORES slots. Absent from runs resolved before it existed:
   * they run their steps apart, on hostTaskQueue.
   */
  restoreTaskQueue?: string;
  /** BACKUP_DIR/.restore/<workflow id>: the download and the decrypted archive, removed at the end. */
  workDir: string;
  approvers: string[];
  /** Distinct approvers needed (RESTORE_MIN_APPROVALS); absent in runs started before it existed: 1. */
  minApprovals?: number;
  /** Approvals must be signed (RESTORE_APPROVER_KEYS is set); absent in older runs: no. */
  signedApprovals?: boolean;
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

export interface RestoreInput {
  archivePath: string;
  request: RestoreRequest;
}

/** What restoreIntoTarget did, step by step, each timed. */
export interface TargetOutcome {
  prepare: { connectionLimit: number; durationMs: number };
  restore: { durationMs: number };
  verify: VerifyOutcome & { durationMs: number };
}

export function createRestoreActivities(config: Config, stores: Stores<LocalStore>, privateKey: PrivateKey) {
  const secrets = secretsOf(config);
  const signal = () => Context.current().cancellationSignal;

  /** Creates the target if asked, then closes it to everyone else; returns the limit to put back. */
  async function prepare(resolved: ResolvedRestore, plan: RestorePlan): Promise<number> {
    const db = targetDatabase(config, plan.target);
    if (plan.target.create) await createDatabase(db);
    return closeKeepingLimit(resolved.workDir, () => closeTarget(db, plan.jobs));
  }

  async function restore(
    resolved: ResolvedRestore,
    plan: RestorePlan,
    { archivePath, request }: RestoreInput,
    record: (details: unknown) => void,
  ): Promise<void> {
    const list = await selectionList(archivePath, request, plan.tables, config.database);
    const listPath = list === undefined ? undefined : await writeUseList(resolved.workDir, list);
    const target = targetDatabase(config, plan.target);
    await endOtherSessions(target);
    // pg_restore reports no bytes: the UI and backupctl show how long it has run.
    record({ phase: 'restore', startedAt: new Date().toISOString() } satisfies StepProgress);
    await runPgRestore(
      target,
      {
        archivePath,
        jobs: plan.jobs,
        // A list says everything; --schema alone is pg_restore's own selection.
        schemas: listPath ? undefined : request.schemas,
        listPath,
        noOwner: request.noOwner,
      },
      signal(),
    );
  }

  async function verify(resolved: ResolvedRestore, plan: RestorePlan): Promise<VerifyOutcome> {
    const db = targetDatabase(config, plan.target);
    const [counts] = await Promise.all([
      compareRowCounts(db, plan.tables, plan.jobs),
      removePlaintext(workFiles(resolved.workDir, resolved.backup.manifest.file.name).archive),
    ]);
    checkRowCounts(counts.mismatches);
    if (config.restore.verifySqlFile) await runVerifySql(db, config.restore.verifySqlFile, signal());
    return { tablesChecked: counts.checked, sqlChecks: Boolean(config.restore.verifySqlFile) };
  }

  return {
    /** Runs on the restore queue: finds the backup, and checks this worker can decrypt it. */
    async resolveRestore(request: RestoreRequest & { workflowId: string }): Promise<ResolvedRestore> {
      return asActivity(secrets, async () => {
        // Refused before anything is read, fetched or connected to.
        checkTarget(config, request.target);
        checkForce(config, request);
        const policy = await restoreTrustPolicy(config, request);
        const backup = await findBackup(config, stores, request.source, policy);
        for (const skipped of backup.skipped ?? []) log.warn(`passed over ${skipped}`);
        if (!backup.signer) {
          log.warn(`${backup.where}: restoring an UNSIGNED backup, accepted by --allow-unsigned`);
        }
        if (!(await openerForBackup(backup.manifest, privateKey))) {
          throw configError(
            'GPG_PRIVATE_KEY_FILE: not set on this worker, and the backup is encrypted; restores run on workers that hold the private key',
          );
        }
        return {
          database: config.database.name,
          workflowId: request.workflowId,
          backup,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          restoreTaskQueue: hostRestoreTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          workDir: restoreWorkDir(config.backup.dir, request.workflowId),
          ...approvalSettings(config, request.approvalTimeoutSeconds),
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
        await makeWorkDir(resolved.workDir);
        const files = workFiles(resolved.workDir, manifest.file.name);
        const source: StoredFile =
          backup.from === 'remote'
            ? { store: stores.remote!, key: backup.key, downloadPath: files.download }
            : { path: backup.from === 'file' ? backup.key : stores.local.pathOf(backup.key) };
        const opener = await openerForBackup(manifest, privateKey);
        const startedAt = new Date().toISOString();
        const fetched = (bytes: number): StepProgress => ({
          phase: 'fetch',
          bytes,
          totalBytes: manifest.file.bytes,
          startedAt,
        });
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
            onProgress: throttled((bytes) => record(fetched(bytes))),
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
          checkTocEntries(tocEntries, resolved.backup.manifest.archive.tocEntries);
          return { tocEntries };
        }),
      );
    },

    /**
     * What will be replaced, where, and how old the backup is: for the approver, before any change;
     * with the digest a signed approval names (the workflow cannot hash).
     */
    async planRestore(
      resolved: ResolvedRestore,
      request: RestoreRequest,
      now: string,
    ): Promise<RestorePlan & { digest?: string }> {
      return asActivity(secrets, async () => {
        const db = targetDatabase(config, request.target);
        const inScope = tablesToReplace(resolved.backup.manifest, request);
        const target = await inspectTarget(db, inScope);
        checkForcedTarget(config, request, target.exists);
        const plan = restorePlan({
          backup: resolved.backup,
          target: { host: db.host, port: db.port, name: db.name, ...target },
          request,
          jobs: resolved.jobs,
          verifySqlFile: resolved.hasVerifySql ? config.restore.verifySqlFile : undefined,
          now,
        });
        if (isPartial(request) && target.exists) {
          const refusal = foreignKeysRefusal(await foreignKeysInto(db, inScope));
          if (refusal) throw refusal;
        }
        return { ...plan, digest: planDigest(plan) };
      });
    },

    /** Whether a signed approval or rejection counts: the approver's key signed its statement. */
    async checkApproval(check: ApprovalToCheck): Promise<{ refusal?: string }> {
      return asActivity(secrets, async () => ({ refusal: await signedApprovalRefusal(config, check) }));
    },

    /** After approval: creates the target if asked, then closes it to everyone else. */
    async prepareTarget(resolved: ResolvedRestore, plan: RestorePlan): Promise<{ connectionLimit: number }> {
      return asActivity(secrets, async () => ({ connectionLimit: await prepare(resolved, plan) }));
    },

    async restoreArchive(
      resolved: ResolvedRestore,
      plan: RestorePlan,
      input: RestoreInput,
    ): Promise<{ durationMs: number }> {
      return asActivity(secrets, () =>
        timed(async () => {
          await heartbeating((record) => restore(resolved, plan, input, record));
          return {};
        }),
      );
    },

    async reopenTarget(resolved: ResolvedRestore, plan: RestorePlan, connectionLimit: number): Promise<void> {
      return asActivity(secrets, () => reopenTarget(targetDatabase(config, plan.target), connectionLimit));
    },

    /**
     * On the host's restore queue (WORKER_MAX_CONCURRENT_RESTORES slots): closes the target (creating
     * it if asked), restores, verifies and reopens it in one activity, so one slot is held from close
     * to reopen and no closed database waits for a slot. A failed attempt leaves the target closed for
     * the retry (its data may be partly replaced); after the last, the workflow reopens it
     * (reopenAfterFailure).
     */
    async restoreIntoTarget(
      resolved: ResolvedRestore,
      plan: RestorePlan,
      input: RestoreInput,
    ): Promise<TargetOutcome> {
      const done: Partial<TargetOutcome> = {};
      try {
        return await asActivity(secrets, () =>
          heartbeating(async (record) => {
            record({ phase: 'prepare', startedAt: new Date().toISOString() } satisfies StepProgress);
            done.prepare = await timed(async () => ({ connectionLimit: await prepare(resolved, plan) }));
            done.restore = await timed(async () => (await restore(resolved, plan, input, record), {}));
            record({ phase: 'verify', startedAt: new Date().toISOString() } satisfies StepProgress);
            done.verify = await timed(() => verify(resolved, plan));
            await reopenTarget(targetDatabase(config, plan.target), done.prepare.connectionLimit);
            return done as TargetOutcome;
          }),
        );
      } catch (error) {
        throw withStepsDone(error, done);
      }
    },

    /**
     * After a failed restoreIntoTarget: puts back the connection limit its first close saved, if it
     * got that far. Tells whether it did (the target was touched).
     */
    async reopenAfterFailure(resolved: ResolvedRestore, plan: RestorePlan): Promise<{ reopened: boolean }> {
      return asActivity(secrets, async () => {
        const limit = await savedConnectionLimit(resolved.workDir);
        if (limit === undefined) return { reopened: false };
        await reopenTarget(targetDatabase(config, plan.target), limit);
        return { reopened: true };
      });
    },

    /**
     * Row counts against the backup's, then the operator's SQL checks. Meanwhile the plaintext goes:
     * pg_restore is done with it, and removing a large file waits on the disk.
     */
    async verifyRestore(
      resolved: ResolvedRestore,
      plan: RestorePlan,
    ): Promise<VerifyOutcome & { durationMs: number }> {
      return asActivity(secrets, () => timed(() => verify(resolved, plan)));
    },

    /** Always last: writes BACKUP_DIR/logs/restore-<time>.log and removes the work folder (plaintext). */
    async finishRestore(
      resolved: ResolvedRestore,
      status: RestoreStatus,
      finishedAt: string,
    ): Promise<{ logPath: string }> {
      return asActivity(secrets, async () => {
        const text = restoreLog({
          workflowId: resolved.workflowId,
          backupWhere: resolved.backup.where,
          backupCreatedAt: resolved.backup.manifest.createdAt,
          status,
          finishedAt,
        });
        const stamp = formatStamp(new Date(finishedAt), config.backup.timeZone);
        const logPath = await finishFiles(config.backup.dir, resolved.workDir, {
          stamp,
          workflowId: resolved.workflowId,
          text,
        });
        return { logPath };
      });
    },
  };
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

export type RestoreActivities = ReturnType<typeof createRestoreActivities>;
