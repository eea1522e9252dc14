import { readFile, stat, writeFile } from 'node:fs/promises';
import type { Manifest } from '../core/manifest.js';
import type { Opener } from '../crypto/open.js';
import type { BackupStore, UploadCheckpoint } from '../storage/types.js';
import { sameKeys, type NewRecipients } from './recipients.js';
import type { TrustPolicy } from '../core/trust.js';
import type { SigningKey } from '../crypto/signing.js';

// Key rotation (`backupctl rekey`) of one backup: what each step works with. The store copies being
// rotated, and the one new file they all get, kept on this host with its record until every store
// has it.

/** Where a rotation stands, in the heartbeats: the step, and the upload a retry resumes. */
export interface RekeyProgress {
  step: string;
  /** SHA-256 of the new file the checkpoint's parts are from: a re-encryption makes other bytes. */
  file?: string;
  checkpoint?: UploadCheckpoint;
}

export interface RekeyWork {
  recipients: NewRecipients;
  /**
   * Each copy is checked before it is touched (a rotation must not launder a forgery into a signed
   * backup); a signed copy is signed again with signingKey, an unsigned one stays unsigned.
   */
  trust?: { policy: TrustPolicy; signingKey?: SigningKey };
  /** Required unless every copy is done already. */
  opener?: Opener;
  /** BACKUP_DIR/.rekey: the new file is kept there until every store has it. */
  workDir: string;
  signal?: AbortSignal;
  /** The last progress an earlier attempt recorded. */
  resumeFrom?: RekeyProgress;
  /** Records progress (heartbeats). Called at each step, before the step. */
  onProgress?: (progress: RekeyProgress) => void;
}

/** A store's copy of the backup being rotated: its manifest there. */
export interface Copy {
  location: 'local' | 'remote';
  store: BackupStore;
  manifest: Manifest;
  /** Signed by a trusted key (so its new manifest is signed too); false for an unsigned one. */
  signed?: boolean;
}

/** The new file on this host, and what it is. */
export interface NewFile {
  path: string;
  bytes: number;
  sha256: string;
  recipients: string[];
}

/** Whether this copy's manifest already names the new recipients. */
export const rotated = (manifest: Manifest, work: RekeyWork) =>
  sameKeys(manifest.encryption.recipients, work.recipients.fingerprints);

/** The file an earlier attempt finished, when its record and size still agree. */
export async function keptFile(path: string): Promise<NewFile | undefined> {
  try {
    const record = JSON.parse(await readFile(`${path}.json`, 'utf8')) as NewFile;
    return (await stat(path)).size === record.bytes ? { ...record, path } : undefined;
  } catch {
    return undefined;
  }
}

export async function keep(path: string, facts: Omit<NewFile, 'path'>): Promise<NewFile> {
  const file = { path, bytes: facts.bytes, sha256: facts.sha256, recipients: facts.recipients };
  await writeFile(`${path}.json`, JSON.stringify(file), { mode: 0o600 });
  return file;
}
