import { S3Client } from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/index.js';

export function createS3Client(config: S3Config): S3Client {
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    credentials:
      config.accessKeyId && config.secretAccessKey
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey }
        : undefined,
    // S3-compatible stores (SeaweedFS, MinIO, B2, Spaces) differ on the SDK's default CRC checksums;
    // we send our own SHA-256 per part instead, which they all verify.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  });
}

/** One bucket under a prefix: what every request of the S3 driver is addressed to. */
export interface S3Place {
  readonly client: S3Client;
  readonly bucket: string;
  /** Empty, or folder names ending in '/' (S3_PREFIX). */
  readonly prefix: string;
  /** s3://bucket/prefix/key, for messages. */
  describe(key: string): string;
}

/** The object's key in the bucket. */
export function fullKey(place: S3Place, key: string): string {
  return place.prefix + key;
}
