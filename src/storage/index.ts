import type { Config } from '../config/index.js';
import { FsStore } from './fs.js';
import { createS3Client } from './s3/client.js';
import { S3Store } from './s3/store.js';
import type { BackupStore, LocalStore } from './types.js';

/**
 * Where every backup is kept: BACKUP_DIR, and the bucket when one is configured. Code that only reads
 * and writes keys takes Stores, so any driver will do (the in-memory one in unit tests); code that
 * hands the local copy's files to a tool or a file upload says so: Stores<LocalStore>.
 */
export interface Stores<Local extends BackupStore = BackupStore> {
  local: Local;
  remote?: BackupStore;
}

export function openStores(config: Config): Stores<LocalStore> {
  return {
    local: new FsStore(config.backup.dir),
    remote: config.s3 && new S3Store(createS3Client(config.s3), config.s3.bucket, config.s3.prefix),
  };
}

/**
 * Names the stores a configuration keeps its backups in, and who reads them (the access key id, never
 * the secret): databases with the same key may share one listing of them.
 */
export function storesKey(config: Config): string {
  const { s3, backup } = config;
  return JSON.stringify([backup.dir, s3?.endpoint, s3?.region, s3?.bucket, s3?.prefix, s3?.accessKeyId]);
}

export function storeList(stores: Stores): BackupStore[] {
  return stores.remote ? [stores.local, stores.remote] : [stores.local];
}
