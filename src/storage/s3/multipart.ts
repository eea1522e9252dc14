import { createHash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { StorageClass } from '../../core/classify.js';
import { BackupError } from '../../core/errors.js';
import { MAX_PARTS, choosePartSize, partRanges, type PartRange } from '../../core/parts.js';
import type { PutFileOptions, PutResult, UploadCheckpoint } from '../types.js';
import { fullKey, type S3Place } from './client.js';
import { call, hintFor, toStoreError } from './errors.js';

// Multipart uploads: a file sent in parts, each with its SHA-256, resumable from a checkpoint, and
// never visible half-done (the object appears only on Complete); and the cleanup of unfinished ones.

/** Parts in flight at once: enough to fill a link, small enough that memory stays flat (parts stream from disk). */
const PART_CONCURRENCY = 4;
/**
 * A part's body is a stream, which the SDK cannot send a second time: its own retries do not help a
 * part, so a part that fails with an error worth retrying (a 500, a 503 SlowDown, a reset) is sent
 * again here from a fresh stream, up to PART_ATTEMPTS times with a pause that doubles from PART_RETRY_MS.
 */
const PART_ATTEMPTS = 4;
const PART_RETRY_MS = 500;
/**
 * Parts are read from the file in 1 MiB reads rather than the default 64 KiB: sixteen times fewer
 * reads and socket writes for the same bytes, and at most PART_CONCURRENCY MiB in memory.
 */
const READ_BYTES = 1024 * 1024;

/** Sends a local file as a multipart upload, resuming options.resumeFrom when the store still has it. */
export async function uploadFile(
  place: S3Place,
  key: string,
  localPath: string,
  options: PutFileOptions = {},
): Promise<PutResult> {
  await checkBucket(place);
  const { size } = await stat(localPath);
  const checkpoint =
    (await resumable(place, key, size, options.resumeFrom)) ?? (await startUpload(place, key, size, options));
  const resumedParts = checkpoint.parts.length;
  const done = new Set(checkpoint.parts.map((p) => p.partNumber));
  const pending = partRanges(size, checkpoint.partSize).filter((range) => !done.has(range.partNumber));
  let bytesSent = 0;
  await runConcurrently(pending, PART_CONCURRENCY, async (range) => {
    options.signal?.throwIfAborted();
    checkpoint.parts.push(await uploadPart(place, checkpoint, localPath, range, options.signal));
    bytesSent += range.end - range.start + 1;
    options.onCheckpoint?.({ ...checkpoint, parts: [...checkpoint.parts] });
  });
  const parts = [...checkpoint.parts].sort((a, b) => a.partNumber - b.partNumber);
  const completed = await call(`complete upload to ${place.describe(key)}`, () =>
    place.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: place.bucket,
        Key: fullKey(place, key),
        UploadId: checkpoint.uploadId,
        MultipartUpload: {
          Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag, ChecksumSHA256: p.checksum })),
        },
      }),
    ),
  );
  return { key, size, etag: completed.ETag, bytesSent, resumedParts };
}

/**
 * Some stores (SeaweedFS, MinIO in some modes) create a bucket on first write: a mistyped S3_BUCKET
 * would then quietly fill a new bucket. Ask first, and fail clearly when it is missing.
 */
export async function checkBucket(place: S3Place): Promise<void> {
  try {
    await place.client.send(new HeadBucketCommand({ Bucket: place.bucket }));
  } catch (error) {
    const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
    if (status === 404) {
      throw new BackupError('UploadFailed', `bucket ${place.bucket} does not exist (NoSuchBucket)`, {
        retryable: false,
        hint: hintFor('NoSuchBucket'),
      });
    }
    if (status === 403) {
      throw new BackupError('UploadFailed', `access to bucket ${place.bucket} denied (AccessDenied)`, {
        retryable: false,
        hint: hintFor('AccessDenied'),
      });
    }
    throw toStoreError('UploadFailed', error, `check bucket ${place.bucket}`);
  }
}

/** The earlier attempt's checkpoint, if it is for this file and the store still has its upload. */
async function resumable(
  place: S3Place,
  key: string,
  size: number,
  earlier?: UploadCheckpoint,
): Promise<UploadCheckpoint | undefined> {
  if (!earlier || earlier.key !== key || earlier.size !== size) return undefined;
  // Parts sized for a smaller estimate may not fit this file in 10,000: start over.
  if (Math.ceil(size / earlier.partSize) > MAX_PARTS) return undefined;
  try {
    const listed = await place.client.send(
      new ListPartsCommand({ Bucket: place.bucket, Key: fullKey(place, key), UploadId: earlier.uploadId }),
    );
    // Trust only parts the store confirms, with the ETag we recorded.
    const confirmed = new Map((listed.Parts ?? []).map((p) => [p.PartNumber, p.ETag]));
    return { ...earlier, parts: earlier.parts.filter((p) => confirmed.get(p.partNumber) === p.etag) };
  } catch {
    return undefined;
  }
}

export async function startUpload(
  place: S3Place,
  key: string,
  size: number,
  options: { storageClass?: StorageClass },
): Promise<UploadCheckpoint> {
  const created = await call(`start upload to ${place.describe(key)}`, () =>
    place.client.send(
      new CreateMultipartUploadCommand({
        Bucket: place.bucket,
        Key: fullKey(place, key),
        StorageClass: options.storageClass,
        ChecksumAlgorithm: 'SHA256',
        ContentType: 'application/octet-stream',
      }),
    ),
  );
  return { key, uploadId: created.UploadId!, partSize: choosePartSize(size), size, parts: [] };
}

export async function uploadPart(
  place: S3Place,
  checkpoint: UploadCheckpoint,
  localPath: string,
  range: PartRange,
  signal?: AbortSignal,
  knownChecksum?: string,
): Promise<UploadCheckpoint['parts'][number]> {
  // Hash first, then stream the same range: a part is never held whole in memory. The file is
  // opened once for both, so the part stays readable even if the file is removed meanwhile.
  const file = await open(localPath);
  try {
    const checksum = knownChecksum ?? (await sha256OfRange(file, range));
    for (let attempt = 1; ; attempt += 1) {
      try {
        const uploaded = await call(
          `upload part ${range.partNumber} of ${place.describe(checkpoint.key)}`,
          () =>
            place.client.send(
              new UploadPartCommand({
                Bucket: place.bucket,
                Key: fullKey(place, checkpoint.key),
                UploadId: checkpoint.uploadId,
                PartNumber: range.partNumber,
                Body: readRange(file, range),
                ContentLength: range.end - range.start + 1,
                ChecksumSHA256: checksum,
              }),
              { abortSignal: signal },
            ),
        );
        return { partNumber: range.partNumber, etag: uploaded.ETag!, checksum };
      } catch (error) {
        if (!(error instanceof BackupError && error.retryable) || attempt === PART_ATTEMPTS) throw error;
        await delay(PART_RETRY_MS * 2 ** (attempt - 1), undefined, { signal });
      }
    }
  } finally {
    await file.close();
  }
}

/** Aborts every unfinished upload to exactly this key; says how many. */
export async function abortIncomplete(place: S3Place, key: string): Promise<number> {
  const listed = await place.client
    .send(new ListMultipartUploadsCommand({ Bucket: place.bucket, Prefix: fullKey(place, key) }))
    .catch((error: unknown) => {
      // No bucket, no upload left in it.
      if (error instanceof S3ServiceException && error.name === 'NoSuchBucket') return { Uploads: [] };
      throw toStoreError('UploadFailed', error, `list uploads in ${place.describe('')}`);
    });
  const uploads = (listed.Uploads ?? []).filter((u) => u.Key === fullKey(place, key));
  for (const upload of uploads) {
    await call(`abort upload to ${place.describe(key)}`, () =>
      place.client.send(
        new AbortMultipartUploadCommand({
          Bucket: place.bucket,
          Key: upload.Key,
          UploadId: upload.UploadId,
        }),
      ),
    );
  }
  return uploads.length;
}

/** Aborts every unfinished upload under the prefix started before a time; says which. */
export async function abortStale(place: S3Place, startedBefore: Date): Promise<string[]> {
  const stale: string[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    const page = await call(`list uploads in ${place.describe('')}`, () =>
      place.client.send(
        new ListMultipartUploadsCommand({
          Bucket: place.bucket,
          Prefix: place.prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      ),
    );
    for (const upload of page.Uploads ?? []) {
      if (!upload.Initiated || upload.Initiated >= startedBefore) continue;
      await call(`abort upload to ${upload.Key}`, () =>
        place.client.send(
          new AbortMultipartUploadCommand({
            Bucket: place.bucket,
            Key: upload.Key,
            UploadId: upload.UploadId,
          }),
        ),
      );
      stale.push(`${place.describe(upload.Key!.slice(place.prefix.length))} (upload ${upload.UploadId})`);
    }
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
  } while (keyMarker);
  return stale;
}

async function sha256OfRange(file: FileHandle, range: PartRange): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of readRange(file, range)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

/** A part of an open file, as a stream that leaves the file open for the next part. */
function readRange(file: FileHandle, range: PartRange): Readable {
  return file.createReadStream({
    start: range.start,
    end: range.end,
    autoClose: false,
    highWaterMark: READ_BYTES,
  });
}

/**
 * Runs work over items, limit at a time. After the first failure no new item starts, and it waits for
 * those in flight, so that no request is still running once it has thrown.
 */
async function runConcurrently<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  let failed = false;
  const runners = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined && !failed; item = queue.shift()) {
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  const outcomes = await Promise.allSettled(runners);
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) throw failure.reason;
}
