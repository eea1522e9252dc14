import type { BackupKind, StorageClass } from './classify.js';

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
  compression: number;
  /** The pg_dump -Fc archive (plaintext). */
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
  return m as Manifest;
}
