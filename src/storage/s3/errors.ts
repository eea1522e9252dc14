import { S3ServiceException } from '@aws-sdk/client-s3';
import { BackupError, type ErrorKind } from '../../core/errors.js';

const NON_RETRYABLE_S3_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'InvalidBucketName',
  'AllAccessDisabled',
  'InvalidStorageClass',
  'NoSuchKey',
  'NotFound',
  'InvalidObjectState',
]);

/** What an S3 error code means, where its name alone would not tell a user. */
const S3_CODE_MEANINGS: Record<string, string> = {
  NoSuchKey: 'no such object',
  // HeadObject answers a missing key with a bare 404, which the SDK names NotFound.
  NotFound: 'no such object',
  InvalidObjectState:
    'the object is archived (GLACIER or DEEP_ARCHIVE) and must be thawed (restored) before it can be read',
};

/** Which way the bytes were going: the error kinds of the backup and of the restore tables. */
export type TransferKind = Extract<ErrorKind, 'UploadFailed' | 'DownloadFailed'>;

/**
 * Maps an S3 failure to a typed error: credentials, a missing bucket or object and other 4xx answers
 * will not fix themselves, so they are not retried; network errors and 5xx answers are.
 */
export function toStoreError(kind: TransferKind, error: unknown, what: string): BackupError {
  if (error instanceof BackupError) return error;
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode ?? 0;
    const retryable =
      !NON_RETRYABLE_S3_CODES.has(error.name) && (status >= 500 || status === 429 || status === 0);
    const answer = `${error.name} (HTTP ${status || 'no answer'})`;
    const meaning = S3_CODE_MEANINGS[error.name];
    const detail = meaning ? `${meaning}, ${answer}` : answer;
    return new BackupError(kind, `${what}: ${detail}`, {
      retryable,
      hint: hintFor(error.name),
    });
  }
  const code = (error as NodeJS.ErrnoException).code;
  const message = code ?? (error instanceof Error ? error.name : 'unknown error');
  return new BackupError(kind, `${what}: ${message === 'ECONNREFUSED' ? 'connection refused' : message}`, {
    retryable: true,
  });
}

/** Sends one request; a failure becomes a typed error saying what was being done. */
export async function call<T>(
  what: string,
  send: () => Promise<T>,
  kind: TransferKind = 'UploadFailed',
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw toStoreError(kind, error, what);
  }
}

export function hintFor(code: string): string | undefined {
  if (code === 'NoSuchBucket') return 'create the bucket, or fix S3_BUCKET';
  if (code === 'InvalidObjectState') {
    return 'thaw the object first: a restore from GLACIER takes minutes to hours';
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied'].includes(code)) {
    return 'check S3_ACCESS_KEY and S3_SECRET_KEY, and the bucket policy';
  }
  return undefined;
}
