import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/core/manifest.js';
import { fetchCheckDecrypt } from '../../src/restore/fetch.js';
import type { S3Store } from '../../src/storage/s3.js';
import { tempDir } from '../helpers/files.js';
import { failureOf } from '../helpers/errors.js';
import { s3StoreOf } from '../helpers/s3.js';
import { testConfig, uniqueName } from '../helpers/services.js';

// The restore's one pass over a stored file, against SeaweedFS: a retried download keeps what the
// last attempt got, and a file that is not the manifest's is refused and not kept.

describe('fetchCheckDecrypt of an unencrypted object', () => {
  const key = 'app-backup-20240315-020000.dump';
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifest = {
    file: { name: key, key, bytes: bytes.length, sha256 },
    archive: { bytes: bytes.length, sha256, tocEntries: 1 },
    encryption: { method: 'none', recipients: [] },
  } as unknown as Manifest;
  let store: S3Store;

  beforeAll(async () => {
    store = s3StoreOf(testConfig({ DB_NAME: 'fetch', S3_PREFIX: `${uniqueName('fetch')}/` }));
    await store.putBytes(key, bytes);
  });

  afterAll(async () => {
    await store.remove(key);
  });

  function fetchInto(dir: string, described = manifest) {
    return fetchCheckDecrypt({
      source: { store, key, downloadPath: join(dir, `${key}.download`) },
      manifest: described,
      where: `s3://.../${key}`,
      archivePath: join(dir, key),
    });
  }

  it('resumes after the bytes an earlier attempt kept; the archive is byte-identical', async () => {
    const dir = tempDir('fetch');
    writeFileSync(join(dir, `${key}.download`), bytes.subarray(0, 1_000_000));
    const result = await fetchInto(dir);
    expect(result.fetch).toMatchObject({ bytes: bytes.length, resumedFrom: 1_000_000, downloaded: true });
    expect(result.check.sha256).toBe(sha256);
    expect(readFileSync(result.archivePath).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual([key]);
  });

  it('refuses an object that is not the one the manifest describes, and keeps nothing of it', async () => {
    const dir = tempDir('fetch');
    const other = { ...manifest, file: { ...manifest.file, sha256: '0'.repeat(64) } };
    const error = await failureOf(fetchInto(dir, other));
    expect(error).toMatchObject({ kind: 'DownloadFailed', retryable: false });
    expect(error.message).toMatch(/damaged or not the one backed up/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('says truncated when the object is shorter than the manifest says', async () => {
    const dir = tempDir('fetch');
    const longer = { ...manifest, file: { ...manifest.file, bytes: bytes.length + 1 } };
    const error = await failureOf(fetchInto(dir, longer));
    expect(error.message).toMatch(/truncated/);
    expect(existsSync(join(dir, `${key}.download`))).toBe(false);
  });
});
