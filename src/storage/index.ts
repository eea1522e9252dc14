import type { Config } from '../config/index.js';
import { FsStore } from './fs.js';
import { S3Store, createS3Client } from './s3.js';
import type { BackupStore } from './types.js';

/** Where every backup is kept: BACKUP_DIR, and the bucket when one is configured. */
export interface Stores {
  local: FsStore;
  remote?: BackupStore;
}

export function openStores(config: Config): Stores {
  return {
    local: new FsStore(config.backup.dir),
    remote: config.s3 && new S3Store(createS3Client(config.s3), config.s3.bucket, config.s3.prefix),
  };
}

export function storeList(stores: Stores): BackupStore[] {
  return stores.remote ? [stores.local, stores.remote] : [stores.local];
}
