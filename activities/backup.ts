import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Context, log } from '@temporalio/activity';
import { dumpVerifyEncrypt } from '../src/backup/pipeline.js';
import { secretsOf, type Config } from '../src/config/index.js';
import type { StorageClass } from '../src/core/classify.js';
import {
  MANIFEST_FORMAT_VERSION,
  parseManifest,
  serializeManifest,
  type Manifest,
} from '../src/core/manifest.js';
import { planBackup, type BackupPlan } from '../src/core/plan.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { timed } from '../src/core/timed.js';
import type { Sealer } from '../src/crypto/index.js';
import { startDump, type DumpFacts } from '../src/postgres/dump.js';
import type { FsStore } from '../src/storage/fs.js';
import type { BackupStore, GrowingUpload, PutResult, UploadCheckpoint } from '../src/storage/types.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

export interface BackupDeps {
  config: Config;
  sealer: Sealer;
  local: FsStore;
  /** Undefined when no bucket is configured. */
  remote?: BackupStore;
}

/**
 * The outcome of the fused dump step, one entry per runbook step so the history shows each: the
 * steps stream into each other (the plaintext never touches the disk), but each reports its own.
 */
export interface DumpOutcome {
  dump: {
    bytes: number;
    sha256: string;
    tables: number;
    totalRows: number;
    serverVersion: string;
    durationMs: number;
  };
  verify: { tocEntries: number; durationMs: number };
  encrypt: {
    method: Sealer['name'];
    recipients: string[];
    bytes: number;
    sha256: string;
    localPath: string;
    durationMs: number;
  };
  /** The parts already sent while the file was written; the upload step finishes from here. */
  upload?: UploadCheckpoint;
}

export type UploadOutcome = PutResult & { location: string; storageClass?: StorageClass; durationMs: number };

/** A backup's work files live in BACKUP_DIR/.work, on the same file system as the backup. */
function workFiles(config: Config, plan: BackupPlan) {
  const folder = join(config.backup.dir, '.work');
  return {
    folder,
    /** What pg_dump found (versions, row counts), for the manifest. */
    facts: join(folder, `${plan.stem}.facts.json`),
    /** The dump step's outcome, so a retry after it finished returns it again. */
    outcome: join(folder, `${plan.stem}.outcome.json`),
  };
}

async function readJsonIfPresent<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Activities of the backup workflow; the plain work lives in src/, these adapt it to Temporal. */
export function createBackupActivities(deps: BackupDeps) {
  const { config, sealer, local, remote } = deps;
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
          remote: remote &&
            config.s3 && { location: remote.location, storageClasses: config.s3.storageClasses },
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          retryAttempts: config.backup.retryAttempts,
        }),
      );
    },

    /**
     * pg_dump -Fc, verified by pg_restore --list and encrypted as it streams, into BACKUP_DIR; parts go
     * to the bucket as they are written. A dump cannot resume: a retry starts over, unless the last
     * attempt finished and only its report was lost.
     */
    async dumpVerifyEncrypt(plan: BackupPlan): Promise<DumpOutcome> {
      return asActivity(secrets, async () => {
        const files = workFiles(config, plan);
        const target = local.pathOf(plan.key);
        const earlier = await readJsonIfPresent<DumpOutcome>(files.outcome);
        if (earlier && (await local.stat(plan.key))?.size === earlier.encrypt.bytes) return earlier;

        await local.ensureFolder(files.folder);
        await local.ensureFolder(dirname(target));
        const dump = await startDump(config.database, {
          compression: config.backup.compression,
          signal: signal(),
        });
        const upload = await growingUpload(plan, `${target}.partial`, dump.databaseBytes);
        const result = await heartbeating((record) =>
          dumpVerifyEncrypt({
            dump,
            sealer,
            targetPath: target,
            signal: signal(),
            upload,
            onProgress: (bytes) => record({ bytes }),
          }),
        );
        const outcome: DumpOutcome = {
          dump: {
            bytes: result.archive.bytes,
            sha256: result.archive.sha256,
            tables: result.facts.tables.length,
            totalRows: result.facts.tables.reduce((sum, t) => sum + t.rows, 0),
            serverVersion: result.facts.serverVersion,
            durationMs: result.times.dumpMs,
          },
          verify: { tocEntries: result.archive.tocEntries, durationMs: result.times.verifyMs },
          encrypt: {
            method: sealer.name,
            recipients: sealer.fingerprints,
            ...result.file,
            localPath: target,
            durationMs: result.times.encryptMs,
          },
          upload: await upload?.settle(result.file.bytes),
        };
        await writeFile(files.facts, JSON.stringify(result.facts), { mode: 0o600 });
        await writeFile(files.outcome, JSON.stringify(outcome), { mode: 0o600 });
        return outcome;
      });
    },

    /** Sends what the dump step did not (often just the last part), and completes the upload. */
    async uploadBackup(plan: BackupPlan, sentWhileDumping?: UploadCheckpoint): Promise<UploadOutcome> {
      return asActivity(secrets, async () => {
        if (!remote) throw new Error('uploadBackup called without a remote store');
        const resumeFrom =
          (Context.current().info.heartbeatDetails as UploadCheckpoint | undefined) ?? sentWhileDumping;
        const result = await timed(() =>
          heartbeating(
            (record) =>
              remote.putFile(plan.key, local.pathOf(plan.key), {
                storageClass: plan.remote?.storageClass,
                resumeFrom,
                onCheckpoint: record,
                signal: signal(),
              }),
            resumeFrom,
          ),
        );
        return { ...result, location: remote.location, storageClass: plan.remote?.storageClass };
      });
    },

    /**
     * Written last: remote first, then local. When the upload failed for good the manifest is written
     * locally only: the local copy is a complete backup, and nothing is lost while the bucket is away.
     */
    async writeManifest(
      plan: BackupPlan,
      input: { dump: DumpOutcome; upload?: UploadOutcome },
    ): Promise<Manifest> {
      return asActivity(secrets, async () => {
        const files = workFiles(config, plan);
        const facts = await readJsonIfPresent<DumpFacts>(files.facts);
        // No facts but a local manifest: an earlier attempt wrote it and was not reported.
        if (!facts)
          return parseManifest(await readFile(local.pathOf(plan.manifestKey), 'utf8'), plan.manifestKey);
        const { dump, verify, encrypt } = input.dump;
        const manifest: Manifest = {
          formatVersion: MANIFEST_FORMAT_VERSION,
          database: plan.database,
          serverVersion: facts.serverVersion,
          pgDumpVersion: facts.pgDumpVersion,
          kind: plan.kind,
          label: plan.label,
          createdAt: plan.createdAt,
          completedAt: new Date().toISOString(),
          compression: config.backup.compression,
          archive: { bytes: dump.bytes, sha256: dump.sha256, tocEntries: verify.tocEntries },
          file: {
            name: plan.key.split('/').pop()!,
            key: plan.key,
            bytes: encrypt.bytes,
            sha256: encrypt.sha256,
          },
          encryption: { method: encrypt.method, recipients: encrypt.recipients },
          tables: facts.tables,
          remote: input.upload && {
            location: input.upload.location,
            key: input.upload.key,
            etag: input.upload.etag,
            storageClass: input.upload.storageClass,
          },
        };
        const text = serializeManifest(manifest);
        if (remote && input.upload) await remote.putBytes(plan.manifestKey, text);
        await local.putBytes(plan.manifestKey, text);
        await rm(files.outcome, { force: true });
        await rm(files.facts, { force: true });
        return manifest;
      });
    },

    /**
     * After a failure: removes what this run left that is not a complete backup. Data whose manifest
     * was written stays; data without one goes, and so does an unfinished multipart upload.
     */
    async discardIncompleteBackup(plan: BackupPlan): Promise<{ removed: string[] }> {
      return asActivity(secrets, async () => {
        const removed: string[] = [];
        const files = workFiles(config, plan);
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

async function discardFrom(store: BackupStore, plan: BackupPlan, removed: string[]): Promise<void> {
  if (await store.abortIncomplete(plan.key))
    removed.push(`${store.location} unfinished upload of ${plan.key}`);
  if (!(await store.stat(plan.manifestKey)) && (await store.stat(plan.key))) {
    await store.remove(plan.key);
    removed.push(`${store.location}${store.location.endsWith('/') ? '' : '/'}${plan.key}`);
  }
}

export type BackupActivities = ReturnType<typeof createBackupActivities>;
