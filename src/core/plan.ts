import type { CompressionSetting } from './compression.js';
import { classifyBackup, type BackupKind, type StorageClass } from './classify.js';
import { UPGRADES_FOLDER, backupFileName, backupStem, formatStamp, manifestFileName } from './naming.js';

/** Everything a backup run needs to know, decided once at its start and recorded in the history. */
export interface BackupPlan {
  database: string;
  kind: BackupKind;
  label?: string;
  /** ISO time the workflow started: the time in the name. */
  createdAt: string;
  stem: string;
  /** The archive's key, the same relative path in BACKUP_DIR and under S3_PREFIX. */
  key: string;
  manifestKey: string;
  encrypted: boolean;
  /**
   * BACKUP_COMPRESSION as the planning worker had it: the name says it (.zst), so the dump must do
   * it, whichever worker runs the dump. Absent in runs planned before it existed (see planCompression).
   */
  compression?: CompressionSetting;
  /** Undefined when no bucket is configured: the backup stays local. */
  remote?: { location: string; storageClass?: StorageClass };
  /** The task queue of the worker that holds this backup's local files. */
  hostTaskQueue: string;
  /**
   * The same host's queue for the dump, polled with WORKER_MAX_CONCURRENT_BACKUPS
   * slots. The short steps stay on hostTaskQueue: a finished dump never waits behind a wave for its
   * manifest. Absent from runs planned before it existed.
   */
  boundedTaskQueue?: string;
  retryAttempts: number;
}

export interface PlanInput {
  database: string;
  prefix: string;
  label?: string;
  startedAt: Date;
  timeZone: string;
  encrypted: boolean;
  /** BACKUP_COMPRESSION: zstd's backups end in .dump.zst[.gpg]. */
  compression: CompressionSetting;
  remote?: { location: string; storageClasses?: Record<BackupKind, StorageClass> };
  hostTaskQueue: string;
  boundedTaskQueue?: string;
  retryAttempts: number;
}

export function planBackup(input: PlanInput): BackupPlan {
  const stamp = formatStamp(input.startedAt, input.timeZone);
  const kind = classifyBackup(input.startedAt, input.timeZone, input.label);
  const stem = backupStem({ prefix: input.prefix, label: input.label, stamp });
  const folder = input.label ? UPGRADES_FOLDER : '';
  return {
    database: input.database,
    kind,
    label: input.label,
    createdAt: input.startedAt.toISOString(),
    stem,
    key:
      folder +
      backupFileName({
        prefix: input.prefix,
        label: input.label,
        stamp,
        encrypted: input.encrypted,
        compression: input.compression.method,
      }),
    manifestKey: folder + manifestFileName(stem),
    encrypted: input.encrypted,
    compression: input.compression,
    remote: input.remote && {
      location: input.remote.location,
      storageClass: input.remote.storageClasses?.[kind],
    },
    hostTaskQueue: input.hostTaskQueue,
    boundedTaskQueue: input.boundedTaskQueue,
    retryAttempts: input.retryAttempts,
  };
}

/**
 * How a plan's dump compresses: as planned; a run planned before plans said so has a name without
 * .zst, so pg_dump compresses, at the level the worker sets or at the old default, 6.
 */
export function planCompression(
  plan: Pick<BackupPlan, 'compression'>,
  configured: CompressionSetting,
): CompressionSetting {
  if (plan.compression) return plan.compression;
  return configured.method === 'zstd' ? { method: 'gzip', level: 6 } : configured;
}
