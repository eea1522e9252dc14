import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../../src/config/index.js';
import { S3Store, createS3Client } from '../../src/storage/s3.js';

export function s3StoreOf(config: Config): S3Store {
  if (!config.s3) throw new Error('the test config has no bucket');
  return new S3Store(createS3Client(config.s3), config.s3.bucket, config.s3.prefix);
}

export async function download(store: S3Store, key: string, path: string): Promise<void> {
  await pipeline(await store.read(key), createWriteStream(path));
}
