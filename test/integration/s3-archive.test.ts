import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StorageClass } from '../../src/core/classify.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { S3Store } from '../../src/storage/s3/store.js';
import type { ThawOptions } from '../../src/storage/types.js';
import { tempDir } from '../helpers/files.js';
import { resetRestores, slowDownRestores, startMoto, type MotoServer } from '../helpers/moto.js';
import { uniqueName } from '../helpers/services.js';

// SeaweedFS serves every storage class at once; moto refuses reads of GLACIER and DEEP_ARCHIVE
// objects until they are restored, as S3 does.
const BUCKET = 'archive-test';
const THAW: ThawOptions = { days: 1, tier: 'Expedited' };
const KEY = 'monthly.dump.gpg';

let moto: MotoServer;
let client: S3Client;

beforeAll(async () => {
  moto = await startMoto();
  client = createS3Client({
    endpoint: moto.endpoint,
    bucket: BUCKET,
    region: 'us-east-1',
    prefix: '',
    forcePathStyle: true,
    accessKeyId: 'test',
    secretAccessKey: 'test',
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  await moto?.stop();
});

afterEach(async () => {
  vi.restoreAllMocks();
  await resetRestores(moto.endpoint);
});

/** A store under a prefix of its own, and a count of the RestoreObject requests it sends. */
function storeWithRestoreCount(): { store: S3Store; restoreRequests: () => number } {
  const send = vi.spyOn(client, 'send');
  return {
    store: new S3Store(client, BUCKET, `${uniqueName('archive')}/`),
    restoreRequests: () =>
      send.mock.calls.filter(([command]) => command instanceof RestoreObjectCommand).length,
  };
}

async function putIn(store: S3Store, storageClass: StorageClass): Promise<Buffer> {
  const bytes = randomBytes(1000);
  const path = join(tempDir('archive'), 'archive.bin');
  writeFileSync(path, bytes);
  await store.putFile(KEY, path, { storageClass });
  return bytes;
}

async function readAll(store: S3Store, start?: number): Promise<Buffer> {
  return Buffer.concat(await (await store.read(KEY, { start })).toArray());
}

describe('S3 archive storage classes (moto)', () => {
  it('reads an archived object only once it is thawed, asking for the restore once', async () => {
    const { store, restoreRequests } = storeWithRestoreCount();
    const bytes = await putIn(store, 'GLACIER');
    await expect(store.read(KEY)).rejects.toMatchObject({
      kind: 'DownloadFailed',
      retryable: false,
      message: expect.stringMatching(
        /monthly\.dump\.gpg: the object is archived \(GLACIER or DEEP_ARCHIVE\)/,
      ),
    });
    expect(await store.thaw(KEY, THAW)).toBe('requested');
    // moto restores at once: the next HeadObject already says ongoing-request="false".
    expect(await store.thaw(KEY, THAW)).toBe('readable');
    expect(restoreRequests()).toBe(1);
    expect(await readAll(store)).toEqual(bytes);
    expect(await readAll(store, 600)).toEqual(bytes.subarray(600));
  });

  it('tells a restore in progress, and does not ask again', async () => {
    await slowDownRestores(moto.endpoint);
    const { store, restoreRequests } = storeWithRestoreCount();
    const bytes = await putIn(store, 'DEEP_ARCHIVE');
    expect(await store.thaw(KEY, THAW)).toBe('requested');
    expect(await store.thaw(KEY, THAW)).toBe('in-progress');
    expect(await store.thaw(KEY, THAW)).toBe('readable');
    expect(restoreRequests()).toBe(1);
    expect(await readAll(store)).toEqual(bytes);
  });

  it.each<StorageClass>(['STANDARD', 'GLACIER_IR'])(
    'reads %s at once, with no restore',
    async (storageClass) => {
      const { store, restoreRequests } = storeWithRestoreCount();
      const bytes = await putIn(store, storageClass);
      expect(await store.thaw(KEY, THAW)).toBe('readable');
      expect(restoreRequests()).toBe(0);
      expect(await readAll(store)).toEqual(bytes);
    },
  );

  it('fails to thaw a missing object, for good', async () => {
    const { store } = storeWithRestoreCount();
    await expect(store.thaw('missing.bin', THAW)).rejects.toMatchObject({
      kind: 'DownloadFailed',
      retryable: false,
      message: expect.stringContaining('missing.bin: no such object'),
    });
  });
});
