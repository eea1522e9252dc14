import { HeadObjectCommand, RestoreObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import type { ThawOptions, ThawState } from '../types.js';
import { fullKey, type S3Place } from './client.js';
import { call, toStoreError } from './errors.js';

/** Storage classes whose objects must be restored before a read; GLACIER_IR is read at once. */
const ARCHIVE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** How stores without an archive tier refuse RestoreObject. */
const NO_ARCHIVE_TIER = new Set(['MethodNotAllowed', 'NotImplemented']);

/** Whether an object of this storage class (STANDARD when S3 names none) needs a thaw before a read. */
export function isArchiveClass(storageClass: string | undefined): boolean {
  return ARCHIVE_CLASSES.has(storageClass ?? 'STANDARD');
}

/**
 * Asks S3 once for a readable copy of an archived object: the copy takes minutes to hours, so the
 * caller polls. HeadObject's Restore header tells a restore already asked for, by anyone.
 */
export async function thaw(place: S3Place, key: string, options: ThawOptions): Promise<ThawState> {
  const head = await call(
    `thaw ${place.describe(key)}`,
    () => place.client.send(new HeadObjectCommand({ Bucket: place.bucket, Key: fullKey(place, key) })),
    'DownloadFailed',
  );
  if (!isArchiveClass(head.StorageClass)) return 'readable';
  return thawStateOf(head.Restore) ?? (await requestRestore(place, key, options));
}

async function requestRestore(place: S3Place, key: string, options: ThawOptions): Promise<ThawState> {
  try {
    await place.client.send(
      new RestoreObjectCommand({
        Bucket: place.bucket,
        Key: fullKey(place, key),
        RestoreRequest: { Days: options.days, GlacierJobParameters: { Tier: options.tier } },
      }),
    );
    return 'requested';
  } catch (error) {
    // Someone else asked between our HeadObject and this request: theirs will do.
    if (error instanceof S3ServiceException && error.name === 'RestoreAlreadyInProgress') {
      return 'in-progress';
    }
    // A store without an archive tier (SeaweedFS) records GLACIER as a name, keeps the object
    // readable, and refuses the request: a monthly backup there is read as it is.
    if (error instanceof S3ServiceException && NO_ARCHIVE_TIER.has(error.name)) return 'readable';
    throw toStoreError('DownloadFailed', error, `request a restore of ${place.describe(key)}`);
  }
}

/** S3's Restore header: ongoing-request="true" while the copy is made, "false" once it is readable. */
function thawStateOf(restoreHeader: string | undefined): ThawState | undefined {
  if (restoreHeader?.includes('ongoing-request="true"')) return 'in-progress';
  if (restoreHeader?.includes('ongoing-request="false"')) return 'readable';
  return undefined;
}
