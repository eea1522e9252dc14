// S3 helpers of the benchmark: the client, and removal of what a run left in the bucket.
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';

export function s3Client(s3) {
  return new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Deletes every object and unfinished multipart upload under prefix, then the folder entry that
 * SeaweedFS keeps for it (and for each parent in alsoEmptyParents, when nothing else is left in
 * it); returns the object count.
 */
export async function deletePrefix(s3, prefix, alsoEmptyParents = []) {
  const client = s3Client(s3);
  let removed = 0;
  try {
    let token;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: item.Key }));
        removed++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: prefix }));
    for (const upload of uploads.Uploads ?? []) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: upload.Key, UploadId: upload.UploadId }),
      );
    }
    for (const folder of [prefix, ...alsoEmptyParents]) {
      const left = await client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: folder, MaxKeys: 2 }),
      );
      const others = (left.Contents ?? []).filter((item) => item.Key !== folder);
      if (others.length > 0 || (left.CommonPrefixes ?? []).length > 0) break;
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: folder })).catch(() => undefined);
    }
  } finally {
    client.destroy();
  }
  return removed;
}
