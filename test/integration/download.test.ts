import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from '../../src/restore/source.js';
import type { S3Store } from '../../src/storage/s3.js';
import { tempDir } from '../helpers/files.js';
import { s3StoreOf } from '../helpers/s3.js';
import { testConfig, uniqueName } from '../helpers/services.js';

// The restore's fetch step against SeaweedFS: a retried download keeps what the last attempt got.

describe('download', () => {
  const key = 'app-backup-20240315-020000.dump.gpg';
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  let store: S3Store;

  beforeAll(async () => {
    store = s3StoreOf(testConfig({ DB_NAME: 'download', S3_PREFIX: `${uniqueName('dl')}/` }));
    await store.putBytes(key, bytes);
  });

  afterAll(async () => {
    await store.remove(key);
  });

  it('resumes after the bytes an earlier attempt wrote, and the file is byte-identical', async () => {
    const target = join(tempDir('download'), key);
    writeFileSync(`${target}.download`, bytes.subarray(0, 1_000_000));
    const result = await download(store, key, target, { size: bytes.length });
    expect(result).toEqual({ bytes: bytes.length, resumedFrom: 1_000_000 });
    expect(readFileSync(target).equals(bytes)).toBe(true);
  });

  it('does not fetch again what a finished attempt already renamed into place', async () => {
    const target = join(tempDir('download'), key);
    writeFileSync(target, bytes);
    expect(await download(store, key, target, { size: bytes.length })).toEqual({
      bytes: bytes.length,
      resumedFrom: bytes.length,
    });
  });

  it('refuses an object of another size than the manifest says, non-retryable', async () => {
    const target = join(tempDir('download'), key);
    await expect(download(store, key, target, { size: bytes.length + 1 })).rejects.toMatchObject({
      kind: 'DownloadFailed',
      retryable: false,
    });
  });
});
