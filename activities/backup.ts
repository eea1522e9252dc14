import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Context, log } from '@temporalio/activity';
import {
  attemptFiles,
  dumpOutcome,
  earlierOutcome,
  forgetAttempt,
  keepAttempt,
  keptFacts,
  type DumpOutcome,
} from '../src/backup/attempt.js';
import { dumpVerifyEncrypt } from '../src/backup/pipeline.js';
import { secretsOf, type Config } from '../src/config/index.js';
import { backupManifest } from '../src/core/backup-manifest.js';
import type { StorageClass } from '../src/core/classify.js';
import { inHistory, parseManifest, type Manifest } from '../src/core/manifest.js';
import { bytesInParts } from '../src/core/parts.js';
import { planBackup, planCompression, type BackupPlan } from '../src/core/plan.js';
import type { StepProgress } from '../src/core/progress.js';
import { hostBackupTaskQueueName, hostTaskQueueName } from '../src/temporal/names.js';
import { timed } from '../src/core/timed.js';
import type { Sealer } from '../src/crypto/seal.js';
import { signedManifest, type SigningKey } from '../src/crypto/signing.js';
import { signatureKeyFor } from '../src/core/trust.js';
import { startDump } from '../src/postgres/dump.js';
import { compressorFor } from '../src/stream/compression.js';
import type {
  BackupStore,
  GrowingUpload,
  LocalStore,
  PutResult,
  UploadCheckpoint,
} from '../src/storage/types.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

export interface BackupDeps {
  config: Config;
  sealer: Sealer;
  /** BACKUP_SIGNING_KEY_FILE: every manifest is signed with it; undefined leaves backups unsigned. */
  signingKey?: SigningKey;
  local: LocalStore;
  /** Undefined when no bucket is configured. */
  remote?: BackupStore;
}

export type UploadOutcome = PutResult & { location: string; storageClass?: StorageClass; durationMs: number };

/** Activities of the backup workflow; the plain work lives in src/, these adapt it to Temporal. */
export function createBackupActivities(deps: BackupDeps) {
  const { config, sealer, signingKey, local, remote } = deps;
  const secrets = secretsOf(config);
  const signal = () => Context.current().cancellationSignal;

  /** Streams the upload during the dump when the store can; without it, the upload step sends all. */
  async function growingUpload(
    plan: BackupPlan,
    path: string,
    databaseBytes: number,
  ): Promise<GrowingUpload | undefined> {
    if (!remote?.startGrowingUpload) return undefined;
    try {
      // A compressed dump is rarely larger than the database; twice its size leaves room for bytea as text.
      return await remote.startGrowingUpload(plan.key, path, {
        storageClass: plan.remote?.storageClass,
        expectedMaxSize: 2 * databaseBytes,
        signal: signal(),
      });
    } catch (error) {
      log.warn('cannot upload while dumping; the upload step will send the file', { error: String(error) });
      return undefined;
    }
  }

  return {
    /** Runs on the shared queue: decides names and kind, and which host keeps the files. */
    async planBackup(request: { database?: string; label?: string; startedAt: string }): Promise<BackupPlan> {
      return asActivity(secrets, async () =>
        planBackup({
          database: config.database.name,
          prefix: config.backup.prefix,
          label: request.label,
          startedAt: new Date(request.startedAt),
          timeZone: config.backup.timeZone,
          encrypted: sealer.encrypted,
          compression: config.backup.compression,
          remote: remote &&
            config.s3 && { location: remote.location, storageClasses: config.s3.storageClasses },
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          boundedTaskQueue: hostBackupTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          retryAttempts: config.backup.retryAttempts,
        }),
      );
    },

    /**
     * pg_dump -Fc, verified by pg_restore --list, compressed (zstd) and encrypted as it streams, into BACKUP_DIR; parts go
     * to the bucket as they are written. A dump cannot resume: a retry starts over, unless the last
     * attempt finished and only its report was lost.
     */
    async dumpVerifyEncrypt(plan: BackupPlan): Promise<DumpOutcome> {
      return asActivity(secrets, async () => {
        const files = attemptFiles(config.backup.dir, plan.stem);
        const target = local.pathOf(plan.key);
        const earlier = await earlierOutcome(files);
        if (earlier && (await local.stat(plan.key))?.size === earlier.encrypt.bytes) return earlier;

        await local.ensureFolder(files.folder);
        await local.ensureFolder(dirname(target));
        const compression = planCompression(plan, config.backup.compression);
        const compressor = compressorFor(compression);
        const dump = await startDump(config.database, {
          compression: compressor.pgDumpLevel,
          signal: signal(),
        });
        const upload = await growingUpload(plan, `${target}.partial`, dump.databaseBytes);
        const startedAt = new Date().toISOString();
        const result = await heartbeating((record) =>
          dumpVerifyEncrypt({
            dump,
            compressor,
            sealer,
            targetPath: target,
            signal: signal(),
            upload,
            onProgress: (bytes) =>
              record({
                phase: 'dump',
                bytes,
                databaseBytes: dump.databaseBytes,
                startedAt,
              } satisfies StepProgress),
          }),
        );
        const outcome = dumpOutcome(
          result,
          compression,
          sealer,
          target,
          await upload?.settle(result.file.bytes),
        );
        await keepAttempt(files, result.facts, outcome);
        return outcome;
      });
    },

    /** Sends what the dump step did not (often just the last part), and completes the upload. */
    async uploadBackup(plan: BackupPlan, sentWhileDumping?: UploadCheckpoint): Promise<UploadOutcome> {
      return asActivity(secrets, async () => {
        if (!remote) throw new Error('uploadBackup called without a remote store');
        const resumeFrom =
          (Context.current().info.heartbeatDetails as UploadCheckpoint | undefined) ?? sentWhileDumping;
        const progress = uploadProgress(resumeFrom);
        const result = await timed(() =>
          heartbeating((record) => {
            // The checkpoint stays whole (a retry resumes from it); the progress goes beside it.
            const checkpointed = (checkpoint: UploadCheckpoint) =>
              record({ ...checkpoint, ...progress(checkpoint) });
            // At once: the first part may take a while, and meanwhile the step shows where it starts.
            if (resumeFrom) checkpointed(resumeFrom);
            return remote.putFile(plan.key, local.pathOf(plan.key), {
              storageClass: plan.remote?.storageClass,
              resumeFrom,
              onCheckpoint: checkpointed,
              signal: signal(),
            });
          }),
        );
        return { ...result, location: remote.location, storageClass: plan.remote?.storageClass };
      });
    },

    /**
     * Written last: remote first, then local, each store's signature (`<manifest>.sig`) just before
     * its manifest. When the upload failed for good the manifest is written locally only: the local
     * copy is a complete backup, and nothing is lost while the bucket is away.
     */
    async writeManifest(
      plan: BackupPlan,
      input: { dump: DumpOutcome; upload?: UploadOutcome },
    ): Promise<Manifest> {
      return asActivity(secrets, async () => {
        const files = attemptFiles(config.backup.dir, plan.stem);
        const facts = await keptFacts(files);
        // No facts but a local manifest: an earlier attempt wrote it and was not reported.
        if (!facts) {
          const text = await readFile(local.pathOf(plan.manifestKey), 'utf8');
          return inHistory(parseManifest(text, plan.manifestKey));
        }
        const manifest = backupManifest({
          plan,
          found: facts,
          outcome: input.dump,
          upload: input.upload,
          compression: planCompression(plan, config.backup.compression),
          completedAt: new Date().toISOString(),
        });
        const { text, signature } = await signedManifest(manifest, signingKey);
        for (const store of remote && input.upload ? [remote, local] : [local]) {
          if (signature) await store.putBytes(signatureKeyFor(plan.manifestKey), signature);
          await store.putBytes(plan.manifestKey, text);
        }
        await forgetAttempt(files);
        return inHistory(parseManifest(text, plan.manifestKey));
      });
    },

    /**
     * After a failure: removes what this run left that is not a complete backup. Data whose manifest
     * was written stays; data without one goes, and so does an unfinished multipart upload.
     */
    async discardIncompleteBackup(plan: BackupPlan): Promise<{ removed: string[] }> {
      return asActivity(secrets, async () => {
        const removed: string[] = [];
        const files = attemptFiles(config.backup.dir, plan.stem);
        for (const path of [files.facts, files.outcome, `${local.pathOf(plan.key)}.partial`]) {
          await rm(path, { force: true });
        }
        // Each store on its own: an unreachable bucket must not keep the local cleanup from happening.
        const failures: unknown[] = [];
        for (const store of remote ? [local, remote] : [local]) {
          await discardFrom(store, plan, removed).catch((error: unknown) => failures.push(error));
        }
        if (failures.length > 0) throw failures[0];
        return { removed };
      });
    },
  };
}

/** The progress an upload adds to its checkpoints: the bytes of the parts sent, of the file's size. */
function uploadProgress(resumeFrom: UploadCheckpoint | undefined) {
  const sent = (c: UploadCheckpoint) =>
    bytesInParts(
      c.size,
      c.partSize,
      c.parts.map((p) => p.partNumber),
    );
  const startedAt = new Date().toISOString();
  const resumedBytes = resumeFrom ? sent(resumeFrom) : 0;
  return (checkpoint: UploadCheckpoint): StepProgress => ({
    phase: 'upload',
    bytes: sent(checkpoint),
    totalBytes: checkpoint.size,
    resumedBytes,
    startedAt,
  });
}

async function discardFrom(store: BackupStore, plan: BackupPlan, removed: string[]): Promise<void> {
  if (await store.abortIncomplete(plan.key)) removed.push(`unfinished upload of ${store.describe(plan.key)}`);
  if (await store.stat(plan.manifestKey)) return;
  for (const key of [plan.key, signatureKeyFor(plan.manifestKey)]) {
    if (!(await store.stat(key))) continue;
    await store.remove(key);
    removed.push(store.describe(key));
  }
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
