import type { StorageClass } from './classify.js';
import type { CompressionSetting, Digest } from './compression.js';
import { MANIFEST_FORMAT_VERSION, type Manifest } from './manifest.js';
import type { BackupPlan } from './plan.js';

// The manifest a backup run writes last, made from what its steps found and did.

export interface ManifestFacts {
  plan: Pick<BackupPlan, 'database' | 'kind' | 'label' | 'createdAt' | 'key'>;
  /** What pg_dump found: its versions, and each table's rows in the dump's own snapshot. */
  found: Pick<Manifest, 'serverVersion' | 'pgDumpVersion' | 'tables'>;
  /** The dump step's outcome: the archive, its table of contents, and the stored file. */
  outcome: {
    dump: { bytes: number; sha256: string };
    /** How the dump step compressed, and the compressed stream when a stage of ours (zstd) did it. */
    compress?: CompressionSetting & Partial<Digest>;
    verify: { tocEntries: number };
    encrypt: {
      bytes: number;
      sha256: string;
      method: Manifest['encryption']['method'];
      recipients: string[];
    };
  };
  /** The upload's outcome; absent when the backup stays local (no bucket, or the upload failed). */
  upload?: { location: string; key: string; etag?: string; storageClass?: StorageClass };
  /** The compression when the outcome does not say (dumps made before it was a setting). */
  compression: CompressionSetting;
  completedAt: string;
}

export function backupManifest({
  plan,
  found,
  outcome,
  upload,
  compression,
  completedAt,
}: ManifestFacts): Manifest {
  const { dump, verify, encrypt } = outcome;
  const compress: CompressionSetting & Partial<Digest> = outcome.compress ?? compression;
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    database: plan.database,
    serverVersion: found.serverVersion,
    pgDumpVersion: found.pgDumpVersion,
    kind: plan.kind,
    label: plan.label,
    createdAt: plan.createdAt,
    completedAt,
    compression: {
      method: compress.method,
      level: compress.level,
      ...(compress.bytes !== undefined && compress.sha256 !== undefined
        ? { stream: { bytes: compress.bytes, sha256: compress.sha256 } }
        : {}),
    },
    archive: { bytes: dump.bytes, sha256: dump.sha256, tocEntries: verify.tocEntries },
    file: {
      name: plan.key.split('/').pop()!,
      key: plan.key,
      bytes: encrypt.bytes,
      sha256: encrypt.sha256,
    },
    encryption: { method: encrypt.method, recipients: encrypt.recipients },
    tables: found.tables,
    remote: upload && {
      location: upload.location,
      key: upload.key,
      etag: upload.etag,
      storageClass: upload.storageClass,
    },
  };
}
