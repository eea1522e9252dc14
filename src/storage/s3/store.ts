import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { BackupError } from '../../core/errors.js';
import type {
  BackupStore,
  GrowingUpload,
  GrowingUploadOptions,
  PutFileOptions,
  PutResult,
  StoredObject,
  ThawOptions,
  ThawState,
} from '../types.js';
import { fullKey, type S3Place } from './client.js';
import { call, toStoreError } from './errors.js';
import { startGrowingUpload } from './growing.js';
import { abortIncomplete, abortStale, uploadFile } from './multipart.js';
import { isArchiveClass, thaw } from './thaw.js';

/**
 * An S3 bucket under a prefix. putFile is a multipart upload that resumes from a checkpoint, with a
 * SHA-256 checksum on every part, and is never left half-done: the object appears only on Complete.
 */
export class S3Store implements BackupStore {
  private readonly place: S3Place;

  constructor(client: S3Client, bucket: string, prefix: string) {
    this.place = { client, bucket, prefix, describe: (key) => this.describe(key) };
  }

  get location(): string {
    return `s3://${this.place.bucket}/${this.place.prefix}`;
  }

  describe(key: string): string {
    return this.location + key;
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const { client, bucket } = this.place;
    let token: string | undefined;
    do {
      const page = await call(`list ${this.location}`, () =>
        client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: fullKey(this.place, prefix),
            ContinuationToken: token,
          }),
        ),
      );
      for (const item of page.Contents ?? []) {
        yield {
          key: item.Key!.slice(this.place.prefix.length),
          size: item.Size ?? 0,
          lastModified: item.LastModified ?? new Date(0),
          etag: item.ETag,
          storageClass: item.StorageClass,
          archived: isArchiveClass(item.StorageClass),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.place.client.send(
        new HeadObjectCommand({ Bucket: this.place.bucket, Key: fullKey(this.place, key) }),
      );
      return {
        key,
        size: head.ContentLength ?? 0,
        lastModified: head.LastModified ?? new Date(0),
        etag: head.ETag,
        storageClass: head.StorageClass ?? 'STANDARD',
        archived: isArchiveClass(head.StorageClass),
      };
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return undefined;
      throw toStoreError('UploadFailed', error, `stat ${this.describe(key)}`);
    }
  }

  async read(key: string, options: { start?: number } = {}): Promise<Readable> {
    const range = options.start ? `bytes=${options.start}-` : undefined;
    const object = await call(
      `read ${this.describe(key)}`,
      () =>
        this.place.client.send(
          new GetObjectCommand({ Bucket: this.place.bucket, Key: fullKey(this.place, key), Range: range }),
        ),
      'DownloadFailed',
    );
    return object.Body as Readable;
  }

  thaw(key: string, options: ThawOptions): Promise<ThawState> {
    return thaw(this.place, key, options);
  }

  async putBytes(key: string, body: string | Uint8Array): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    await call(`put ${this.describe(key)}`, () =>
      this.place.client.send(
        new PutObjectCommand({
          Bucket: this.place.bucket,
          Key: fullKey(this.place, key),
          Body: bytes,
          ChecksumSHA256: createHash('sha256').update(bytes).digest('base64'),
        }),
      ),
    );
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutResult> {
    const sent = await uploadFile(this.place, key, localPath, options);
    const stored = await this.stat(key);
    if (stored?.size !== sent.size) {
      throw new BackupError(
        'UploadFailed',
        `${this.describe(key)} has ${stored?.size ?? 0} bytes after upload, expected ${sent.size}`,
      );
    }
    return { ...sent, etag: sent.etag ?? stored.etag };
  }

  startGrowingUpload(key: string, localPath: string, options: GrowingUploadOptions): Promise<GrowingUpload> {
    return startGrowingUpload(this.place, key, localPath, options);
  }

  async remove(key: string): Promise<void> {
    await call(`delete ${this.describe(key)}`, () =>
      this.place.client.send(
        new DeleteObjectCommand({ Bucket: this.place.bucket, Key: fullKey(this.place, key) }),
      ),
    );
  }

  abortIncomplete(key: string): Promise<number> {
    return abortIncomplete(this.place, key);
  }

  abortStale(startedBefore: Date): Promise<string[]> {
    return abortStale(this.place, startedBefore);
  }
}
