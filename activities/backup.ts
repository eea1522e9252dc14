import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import type { StorageClass } from '../src/core/classify.js';
import { sealArchive, type SealResult } from '../src/backup/seal.js';
import {
  MANIFEST_FORMAT_VERSION,
  parseManifest,
  serializeManifest,
  type Manifest,
} from '../src/core/manifest.js';
import { hostTaskQueueName, planBackup, type BackupPlan } from '../src/core/plan.js';
import type { Sealer } from '../src/crypto/index.js';
import { dumpDatabase, type DumpResult } from '../src/postgres/dump.js';
import { verifyArchive } from '../src/postgres/verify.js';
import type { FsStore } from '../src/storage/fs.js';
import type { BackupStore, PutResult, UploadCheckpoint } from '../src/storage/types.js';
import { asActivity } from './failure.js';

export interface BackupDeps {
  config: Config;
  sealer: Sealer;
  local: FsStore;
  /** Undefined when no bucket is configured. */
  remote?: BackupStore;
}

export interface StepTiming {
  durationMs: number;
}

export type DumpOutcome = StepTiming & Omit<DumpResult, 'tables'> & { tables: number; totalRows: number };
export type VerifyOutcome = StepTiming & { tocEntries: number };
export type EncryptOutcome = StepTiming &
  SealResult & { method: Sealer['name']; recipients: string[]; localPath: string };
export type UploadOutcome = StepTiming & PutResult & { location: string; storageClass?: StorageClass };
export interface ManifestInput {
  verify: VerifyOutcome;
  encrypt: EncryptOutcome;
  upload?: UploadOutcome;
}

/** A backup's work files live in BACKUP_DIR/.work, on the same file system, so the final rename is atomic. */
function workFiles(config: Config, plan: BackupPlan) {
  const folder = join(config.backup.dir, '.work');
  return {
    folder,
    plaintext: join(folder, `${plan.stem}.dump`),
    /** What pg_dump found (versions, row counts), for the manifest. */
    facts: join(folder, `${plan.stem}.facts.json`),
    /** The encryption's result, kept so a retry after the plaintext is gone returns it again. */
    sealed: join(folder, `${plan.stem}.sealed.json`),
  };
}

/** A heartbeat every few seconds, whatever the work reports: a slow part is not a dead worker. */
const HEARTBEAT_INTERVAL_MS = 3_000;

/**
 * Runs work that reports progress through record(). The latest details are re-sent on a timer, so
 * the checkpoint an earlier attempt left is never overwritten by an empty heartbeat.
 */
async function heartbeating<T>(work: (record: (details: unknown) => void) => Promise<T>): Promise<T> {
  const context = Context.current();
  let latest: unknown = context.info.heartbeatDetails;
  const timer = setInterval(() => context.heartbeat(latest), HEARTBEAT_INTERVAL_MS);
  try {
    return await work((details) => {
      latest = details;
      context.heartbeat(details);
    });
  } finally {
    clearInterval(timer);
  }
}

async function readJsonIfPresent<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function timed<T extends object>(work: () => Promise<T>): Promise<T & StepTiming> {
  const started = performance.now();
  const result = await work();
  return { ...result, durationMs: Math.round(performance.now() - started) };
}

/** Activities of the backup workflow; the plain work lives in src/, these adapt it to Temporal. */
export function createBackupActivities(deps: BackupDeps) {
  const { config, sealer, local, remote } = deps;
  const secrets = secretsOf(config);
  const signal = () => Context.current().cancellationSignal;

  return {
    /** Runs on the shared queue: decides names and kind, and which host keeps the files. */
    async planBackup(request: { label?: string; startedAt: string }): Promise<BackupPlan> {
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

    async dumpDatabase(plan: BackupPlan): Promise<DumpOutcome> {
      return asActivity(secrets, async () => {
        const files = workFiles(config, plan);
        await local.ensureFolder(files.folder);
        // A dump cannot resume: a retry starts it over, from a clean file.
        await rm(files.plaintext, { force: true });
        return timed(async () => {
          const result = await heartbeating((record) =>
            dumpDatabase(config.database, files.plaintext, {
              compression: config.backup.compression,
              signal: signal(),
              onProgress: (bytes) => record({ bytes }),
            }),
          );
          await writeFile(files.facts, JSON.stringify(result), { mode: 0o600 });
          const { tables, ...rest } = result;
          return { ...rest, tables: tables.length, totalRows: tables.reduce((sum, t) => sum + t.rows, 0) };
        });
      });
    },

    async verifyArchive(plan: BackupPlan): Promise<VerifyOutcome> {
      return asActivity(secrets, () =>
        timed(async () => ({ tocEntries: await verifyArchive(workFiles(config, plan).plaintext, signal()) })),
      );
    },

    async encryptArchive(plan: BackupPlan): Promise<EncryptOutcome> {
      return asActivity(secrets, async () => {
        const files = workFiles(config, plan);
        const target = local.pathOf(plan.key);
        const outcome = (sealed: SealResult) => ({
          ...sealed,
          method: sealer.name,
          recipients: sealer.fingerprints,
          localPath: target,
        });
        // An earlier attempt finished but was not reported: its file and result stand.
        const earlier = await readJsonIfPresent<SealResult>(files.sealed);
        if (earlier && (await local.stat(plan.key))?.size === earlier.file.bytes) {
          return { ...outcome(earlier), durationMs: 0 };
        }
        await local.ensureFolder(join(target, '..'));
        return timed(async () => {
          const sealed = await heartbeating((record) =>
            sealArchive(files.plaintext, target, sealer, {
              signal: signal(),
              onProgress: (bytes) => record({ bytes }),
            }),
          );
          await writeFile(files.sealed, JSON.stringify(sealed), { mode: 0o600 });
          await rm(files.plaintext, { force: true });
          return outcome(sealed);
        });
      });
    },

    async uploadBackup(plan: BackupPlan): Promise<UploadOutcome> {
      return asActivity(secrets, async () => {
        if (!remote) throw new Error('uploadBackup called without a remote store');
        const resumeFrom = Context.current().info.heartbeatDetails as UploadCheckpoint | undefined;
        return timed(async () => {
          const result = await heartbeating((record) =>
            remote.putFile(plan.key, local.pathOf(plan.key), {
              storageClass: plan.remote?.storageClass,
              resumeFrom,
              onCheckpoint: record,
              signal: signal(),
            }),
          );
          return { location: remote.location, storageClass: plan.remote?.storageClass, ...result };
        });
      });
    },

    /**
     * Written last: remote first, then local. When the upload failed for good the manifest is written
     * locally only: the local copy is a complete backup, and nothing is lost while the bucket is away.
     */
    async writeManifest(plan: BackupPlan, input: ManifestInput): Promise<Manifest> {
      return asActivity(secrets, async () => {
        const files = workFiles(config, plan);
        const facts = await readJsonIfPresent<DumpResult>(files.facts);
        // No facts but a local manifest: an earlier attempt wrote it and was not reported.
        if (!facts)
          return parseManifest(await readFile(local.pathOf(plan.manifestKey), 'utf8'), plan.manifestKey);
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
          archive: { ...input.encrypt.archive, tocEntries: input.verify.tocEntries },
          file: { name: plan.key.split('/').pop()!, key: plan.key, ...input.encrypt.file },
          encryption: { method: input.encrypt.method, recipients: input.encrypt.recipients },
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
        await rm(files.sealed, { force: true });
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
        for (const path of [
          files.plaintext,
          files.facts,
          files.sealed,
          `${local.pathOf(plan.key)}.partial`,
        ]) {
          await rm(path, { force: true });
        }
        await mkdir(files.folder, { recursive: true, mode: 0o700 });
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
