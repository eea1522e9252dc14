import type { BackupKind, StorageClass } from './classify.js';
import { COMPRESSION_METHODS, compressionOf, type Digest, type ManifestCompression } from './compression.js';

// The manifest is written last, beside the archive, locally and in the bucket. A backup without its
// manifest is incomplete and nothing may treat it as a backup.

export const MANIFEST_FORMAT_VERSION = 1;

export interface Manifest {
  formatVersion: typeof MANIFEST_FORMAT_VERSION;
  database: string;
  serverVersion: string;
  pgDumpVersion: string;
  kind: BackupKind;
  label?: string;
  createdAt: string;
  completedAt: string;
  /**
   * How the archive was compressed: method and level, and for zstd the compressed stream. A number
   * (manifests made before BACKUP_COMPRESSION): pg_dump's own gzip at that level. Read it with
   * compressionOf.
   */
  compression: number | ManifestCompression;
  /** The pg_dump -Fc archive (plaintext), as pg_restore reads it: decompressed when zstd compressed it. */
  archive: { bytes: number; sha256: string; tocEntries: number };
  /** The stored file: the encrypted archive, or the archive itself when encryption is off. */
  file: { name: string; key: string; bytes: number; sha256: string };
  encryption: { method: 'openpgp' | 'none'; recipients: string[] };
  tables: { schema: string; table: string; rows: number }[];
  remote?: { location: string; key: string; etag?: string; storageClass?: StorageClass };
  /**
   * Who signed it (BACKUP_SIGNING_KEY_FILE): the detached signature `<manifest>.sig` covers these
   * exact bytes, this field included. Absent on an unsigned backup. The public key is left out of
   * the copies that travel through workflow histories (inHistory).
   */
  signer?: { fingerprint: string; publicKey?: string };
}

/** The manifest as workflows carry it: the signer named by fingerprint, without its key block. */
export function inHistory(manifest: Manifest): Manifest {
  return manifest.signer ? { ...manifest, signer: { fingerprint: manifest.signer.fingerprint } } : manifest;
}

/**
 * Whether the stored file is encrypted, so a restore needs the private key. A pure predicate, for the
 * workflows; a worker asks the opener instead (openerForBackup).
 */
export function isEncrypted(manifest: Pick<Manifest, 'encryption'>): boolean {
  return manifest.encryption.method !== 'none';
}

/**
 * What the encryption wrapped, so what a decryption must give back: the compressed stream when a
 * stage of ours compressed the archive, the archive itself otherwise.
 */
export function sealedContent(manifest: Pick<Manifest, 'compression' | 'archive'>): Digest {
  const { stream } = compressionOf(manifest);
  return stream ?? { bytes: manifest.archive.bytes, sha256: manifest.archive.sha256 };
}

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Reads a manifest, refusing anything that is not one of ours of a version we know. */
export function parseManifest(text: string, source: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${source}: manifest is not valid JSON`);
  }
  const m = value as Partial<Manifest>;
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION || !m.file?.key || !m.archive?.sha256 || !m.createdAt) {
    throw new Error(`${source}: not a durable-backup manifest of format version ${MANIFEST_FORMAT_VERSION}`);
  }
  if (!isKnownCompression(m.compression)) {
    throw new Error(`${source}: a compression this version cannot read (${JSON.stringify(m.compression)})`);
  }
  return m as Manifest;
}

/** A level of pg_dump's own (older manifests), or a method this version has a driver for. */
function isKnownCompression(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 9;
  const method = (value as { method?: unknown } | undefined)?.method;
  return COMPRESSION_METHODS.some((known) => known === method);
}
