import type { Readable } from 'node:stream';
import type { StorageClass } from '../core/classify.js';

// One interface for every place a backup is kept (pgBackRest's storage drivers, WAL-G's Folder).
// Keys are '/'-separated paths relative to the store's root. Every driver passes test/integration/storage-contract.test.ts.

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
  etag?: string;
  storageClass?: string;
  /**
   * The store's answer to "must it be thawed before a read?": true for S3's GLACIER and DEEP_ARCHIVE
   * (see thaw), false where every object can be read at once.
   */
  archived: boolean;
}

/** Where a resumable upload stands; kept in activity heartbeats so a retry continues from here. */
export interface UploadCheckpoint {
  key: string;
  uploadId: string;
  partSize: number;
  size: number;
  parts: { partNumber: number; etag: string; checksum: string }[];
}

export interface PutFileOptions {
  storageClass?: StorageClass;
  /** A checkpoint from an earlier attempt at the same upload. */
  resumeFrom?: UploadCheckpoint;
  /** Called after each finished part; the caller records it (heartbeat). */
  onCheckpoint?: (checkpoint: UploadCheckpoint) => void;
  signal?: AbortSignal;
}

export interface PutResult {
  key: string;
  size: number;
  etag?: string;
  /** Bytes this call sent; less than size when it resumed an earlier attempt. */
  bytesSent: number;
  resumedParts: number;
}

export interface GrowingUploadOptions {
  storageClass?: StorageClass;
  /** An upper bound of the final size, to size the parts before it is known. */
  expectedMaxSize: number;
  signal?: AbortSignal;
}

/** An upload that follows a file while it is written (see BackupStore.startGrowingUpload). */
export interface GrowingUpload {
  /** Parts are cut at multiples of this size, so the writer can hash them on the way. */
  readonly partSize: number;
  /**
   * The writer has written this many bytes: send every part that is now complete. checksums[i] is
   * the base64 SHA-256 of part i + 1 when the writer computed it (saves reading the part twice).
   */
  grew(writtenBytes: number, checksums?: readonly string[]): void;
  /** Starts no new part, waits for the one in flight; the checkpoint to finish with putFile({ resumeFrom }). */
  settle(finalSize: number): Promise<UploadCheckpoint>;
}

/** Where an object stands: archived objects (GLACIER, DEEP_ARCHIVE) must be thawed before a read. */
export type ThawState = 'readable' | 'requested' | 'in-progress';

export interface ThawOptions {
  /** How long the thawed copy stays readable. */
  days: number;
  tier: 'Expedited' | 'Standard' | 'Bulk';
}

export interface BackupStore {
  /**
   * The store itself, for messages and as its name in a catalog (and a manifest's remote record):
   * s3://bucket/prefix or a directory path. Never holds a secret.
   */
  readonly location: string;
  /** Where a key is, for messages: s3://bucket/prefix/key, /backup/dir/key. Never holds a secret. */
  describe(key: string): string;
  list(prefix?: string): AsyncIterable<StoredObject>;
  /** Undefined when the key does not exist. */
  stat(key: string): Promise<StoredObject | undefined>;
  /** Reads the object, from byte `start` on when given (a download that resumes). */
  read(key: string, options?: { start?: number }): Promise<Readable>;
  /** Stores a local file under key, all or nothing: readers never see a partial object. */
  putFile(key: string, localPath: string, options?: PutFileOptions): Promise<PutResult>;
  putBytes(key: string, body: string | Uint8Array): Promise<void>;
  /** Removes the key; removing a missing key is not an error. */
  remove(key: string): Promise<void>;
  /** Drops what interrupted putFile calls left under key (multipart uploads, temporary files). */
  abortIncomplete(key: string): Promise<number>;
  /** Drops every unfinished write (multipart upload, partial file) started before a time; says what. */
  abortStale(startedBefore: Date): Promise<string[]>;
  /**
   * An optional ability: start sending a file while it is still being written, so the upload
   * overlaps the dump. Stores without it (a local directory) get the whole file from putFile.
   */
  startGrowingUpload?(key: string, localPath: string, options: GrowingUploadOptions): Promise<GrowingUpload>;
  /**
   * An optional ability of stores with archive storage classes: says whether the object can be read,
   * and asks for its restoration (once) when it cannot. Stores without it can always read.
   */
  thaw?(key: string, options: ThawOptions): Promise<ThawState>;
}

/**
 * The ability of a store on this host's disk (BACKUP_DIR): each key is a file, which tools that need a
 * path (pg_restore, gpg, an upload's part reads) can use directly instead of a download.
 */
export interface LocalFiles {
  /** The file behind a key; throws when the key would lead out of the store. */
  pathOf(key: string): string;
  /** Creates a folder inside the store (or the store's root) with the store's permissions. */
  ensureFolder(path: string): Promise<void>;
}

/** A store whose keys are files on this host: the local copy of the 3-2-1 rule. */
export type LocalStore = BackupStore & LocalFiles;
