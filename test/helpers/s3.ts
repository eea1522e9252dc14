import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Config } from '../../src/config/index.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { S3Store } from '../../src/storage/s3/store.js';

export function s3StoreOf(config: Config): S3Store {
  if (!config.s3) throw new Error('the test config has no bucket');
  return new S3Store(createS3Client(config.s3), config.s3.bucket, config.s3.prefix);
}

export async function download(store: S3Store, key: string, path: string): Promise<void> {
  await pipeline(await store.read(key), createWriteStream(path));
}

/** The keys of the objects under the config's S3_PREFIX, relative to it. */
export async function objectKeys(config: Config): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of s3StoreOf(config).list()) keys.push(object.key);
  return keys.sort();
}

/** The keys of the multipart uploads started and never completed or aborted under the config's S3_PREFIX. */
export async function incompleteUploads(config: Config): Promise<string[]> {
  const { Uploads } = await createS3Client(config.s3!).send(
    new ListMultipartUploadsCommand({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }),
  );
  return (Uploads ?? []).map((u) => u.Key!);
}
