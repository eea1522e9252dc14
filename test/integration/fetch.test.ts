import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import type { Manifest } from '../../src/core/manifest.js';
import { openerFor, sealerFor } from '../../src/crypto/keys.js';
import { noDecryption, type Opener } from '../../src/crypto/open.js';
import { fetchCheckDecrypt } from '../../src/restore/fetch.js';
import type { S3Store } from '../../src/storage/s3/store.js';
import { tempDir } from '../helpers/files.js';
import { failureOf } from '../helpers/errors.js';
import { createKeyring, DECRYPTERS, restoreConfig } from '../helpers/gpg.js';
import { s3StoreOf } from '../helpers/s3.js';
import { testConfig, uniqueName } from '../helpers/services.js';

// The restore's first three steps over a stored file, against SeaweedFS: a retried download keeps what the
// last attempt got, and a file that is not the manifest's is refused and not kept.

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('fetchCheckDecrypt of an unencrypted object', () => {
  const key = 'app-backup-20240315-020000.dump';
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const sha256 = sha256Of(bytes);
  const manifest = {
    file: { name: key, key, bytes: bytes.length, sha256 },
    archive: { bytes: bytes.length, sha256, tocEntries: 1 },
    compression: 6,
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
      opener: noDecryption,
      archivePath: join(dir, key),
      hashArchive: true,
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
    expect(error.hint).toMatch(/^the copy in S3 is damaged or incomplete: restore from the other copy/);
    expect(existsSync(join(dir, `${key}.download`))).toBe(false);
  });

  it('points at the file, not at S3, when a copy on this host is truncated or cannot be read', async () => {
    const dir = tempDir('fetch');
    const path = join(dir, key);
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    const local = (file: string) =>
      fetchCheckDecrypt({
        source: { path: file },
        manifest,
        where: file,
        opener: noDecryption,
        archivePath: join(dir, 'archive'),
        hashArchive: true,
      });
    const truncated = await failureOf(local(path));
    expect(truncated).toMatchObject({ kind: 'DownloadFailed', retryable: false });
    expect(truncated.message).toBe(
      `${path}: ${bytes.length - 10} bytes, the manifest says ${bytes.length}: the stored file is truncated`,
    );
    const unreadable = await failureOf(local(join(dir, 'gone')));
    expect(unreadable.message).toMatch(/^cannot read .*gone: ENOENT/);
    for (const error of [truncated, unreadable]) {
      expect(error.hint).toMatch(
        /^the copy on this host is damaged or incomplete \(S3 and the keys are not the cause\)/,
      );
      expect(error.hint).not.toContain('S3_ENDPOINT');
    }
  });
});

describe('fetchCheckDecrypt of a sealed object, and of objects that cannot be kept', () => {
  const plaintext = randomBytes(3 * 1024 * 1024);
  const objects = { plain: 'app-backup-20240316-020000.dump', sealed: 'app-backup-20240316-020000.dump.gpg' };
  let store: S3Store;
  let sealed: Buffer;
  let privateKeyFile: string;

  beforeAll(async () => {
    const keyring = await createKeyring();
    privateKeyFile = keyring.privateKeyFile;
    const env = { DB_NAME: 'x', GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile };
    const sealer = await sealerFor(loadConfig({ env }));
    sealed = Buffer.concat(await (await sealer.seal(Readable.from([plaintext]))).toArray());
    store = s3StoreOf(testConfig({ DB_NAME: 'fetch', S3_PREFIX: `${uniqueName('fetch-full')}/` }));
    await store.putBytes(objects.plain, plaintext);
    await store.putBytes(objects.sealed, sealed);
  });

  afterAll(async () => {
    await Promise.all(Object.values(objects).map((key) => store.remove(key)));
  });

  const sealedManifest = (archive: Partial<Manifest['archive']>) =>
    ({
      file: { name: objects.sealed, key: objects.sealed, bytes: sealed.length, sha256: sha256Of(sealed) },
      archive: { bytes: plaintext.length, sha256: sha256Of(plaintext), tocEntries: 1, ...archive },
      compression: 6,
      encryption: { method: 'openpgp', recipients: [] },
    }) as unknown as Manifest;

  // A restore leaves the archive's SHA-256 to the file's and OpenPGP's own checks, unless the
  // decrypter computed it anyway: openpgp.js's plaintext passes through us, gpg's does not.
  it.each(DECRYPTERS)('compares the archive with the manifest (decrypter: %s)', async (decrypter) => {
    const opener = await openerFor(restoreConfig(privateKeyFile, decrypter));
    const fetchWith = (archive: Partial<Manifest['archive']>, hashArchive: boolean) =>
      fetchCheckDecrypt({
        source: { store, key: objects.sealed, downloadPath: join(tempDir('fetch'), 'sealed.download') },
        manifest: sealedManifest(archive),
        where: `s3://.../${objects.sealed}`,
        opener,
        archivePath: join(tempDir('fetch-archive'), objects.plain),
        hashArchive,
      });
    const otherSha256 = { sha256: '0'.repeat(64) };

    const reread = await failureOf(fetchWith(otherSha256, true));
    expect(reread).toMatchObject({ kind: 'DecryptionFailed', retryable: false });
    expect(reread.message).toBe(
      `the decrypted archive has ${plaintext.length} bytes with sha256 ${sha256Of(plaintext)}, the manifest says ${plaintext.length} with sha256 ${'0'.repeat(64)}`,
    );
    const shorter = await failureOf(fetchWith({ bytes: plaintext.length - 1 }, false));
    expect(shorter).toMatchObject({ kind: 'DecryptionFailed', retryable: false });
    // The SHA-256s are named only when this decrypter computed one.
    expect(shorter.message).toMatch(
      new RegExp(
        `^the decrypted archive has ${plaintext.length} bytes.*, the manifest says ${plaintext.length - 1}\\b`,
      ),
    );
    const restore = fetchWith(otherSha256, false);
    if (decrypter === 'openpgp') {
      await expect(restore).rejects.toMatchObject({ kind: 'DecryptionFailed' });
    } else {
      const { archivePath } = await restore;
      expect(readFileSync(archivePath).equals(plaintext)).toBe(true);
    }
  });

  it.each(DECRYPTERS)(
    'refuses a file that is not the manifest before decrypting any of it (decrypter: %s)',
    async (decrypter) => {
      const opener = (await openerFor(restoreConfig(privateKeyFile, decrypter)))!;
      const calls: string[] = [];
      const watched: Opener = {
        decrypts: true,
        open: (sealed) => (calls.push('open'), opener.open(sealed)),
        ...(opener.openFile && {
          openFile: (sealedPath, path, signal) => (
            calls.push('openFile'),
            opener.openFile!(sealedPath, path, signal)
          ),
        }),
      };
      const manifest = sealedManifest({});
      const dir = tempDir('fetch');
      const archiveDir = tempDir('fetch-archive');
      const error = await failureOf(
        fetchCheckDecrypt({
          source: { store, key: objects.sealed, downloadPath: join(dir, 'sealed.download') },
          manifest: { ...manifest, file: { ...manifest.file, sha256: '0'.repeat(64) } },
          where: `s3://.../${objects.sealed}`,
          opener: watched,
          archivePath: join(archiveDir, objects.plain),
          hashArchive: false,
        }),
      );
      expect(error).toMatchObject({ kind: 'DownloadFailed', retryable: false });
      expect(calls).toEqual([]);
      expect(readdirSync(dir)).toEqual([]);
      expect(readdirSync(archiveDir)).toEqual([]);

      // The same object, rightly described, goes through the same decrypter.
      const { archivePath } = await fetchCheckDecrypt({
        source: { store, key: objects.sealed, downloadPath: join(dir, 'sealed.download') },
        manifest,
        where: `s3://.../${objects.sealed}`,
        opener: watched,
        archivePath: join(archiveDir, objects.plain),
        hashArchive: false,
      });
      expect(calls).toEqual([decrypter === 'gpg' ? 'openFile' : 'open']);
      expect(readFileSync(archivePath).equals(plaintext)).toBe(true);
    },
  );

  // The whole object fits the writer's buffer, so the write fails after the last chunk was read:
  // the download must still fail, or an unencrypted archive would be the cut file.
  it.each(['none', ...DECRYPTERS] as const)(
    'fails for another try, naming the download, and keeps only its first bytes (decrypter: %s)',
    async (decrypter) => {
      const encrypted = decrypter !== 'none';
      const key = encrypted ? objects.sealed : objects.plain;
      const file = encrypted ? sealed : plaintext;
      const manifest = {
        file: { name: key, key, bytes: file.length, sha256: sha256Of(file) },
        archive: { bytes: plaintext.length, sha256: sha256Of(plaintext), tocEntries: 1 },
        compression: 6,
        encryption: { method: encrypted ? 'openpgp' : 'none', recipients: [] },
      } as unknown as Manifest;
      const opener = encrypted ? await openerFor(restoreConfig(privateKeyFile, decrypter)) : noDecryption;
      // We are root in the test environment: a tmpfs of 1 MiB is a disk that fills up for real.
      const full = tempDir('fetch-full');
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', full]);
      try {
        const downloadPath = join(full, `${key}.download`);
        const archiveDir = tempDir('fetch-archive');
        const error = await failureOf(
          fetchCheckDecrypt({
            source: { store, key, downloadPath },
            manifest,
            where: `s3://.../${key}`,
            opener,
            archivePath: join(archiveDir, objects.plain),
            hashArchive: true,
          }),
        );
        expect(error).toMatchObject({ kind: 'DownloadFailed', retryable: true });
        expect(error.message).toBe(`cannot write ${downloadPath}: no space left on device`);
        // What was written is a prefix of the object, for the next attempt to resume after.
        const kept = readFileSync(downloadPath);
        expect(kept.length).toBeGreaterThan(0);
        expect(kept.equals(file.subarray(0, kept.length))).toBe(true);
        expect(readdirSync(full)).toEqual([`${key}.download`]);
        expect(readdirSync(archiveDir)).toEqual([]);
      } finally {
        await execa('umount', ['--lazy', full]);
      }
    },
  );
});

describe('fetchCheckDecrypt of a zstd backup', () => {
  const plaintext = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(2 * 1024 * 1024, 'row ')]);
  const key = 'app-backup-20240317-020000.dump.zst.gpg';
  let store: S3Store;
  let compressed: Buffer;
  let sealed: Buffer;
  let privateKeyFile: string;

  beforeAll(async () => {
    const keyring = await createKeyring();
    privateKeyFile = keyring.privateKeyFile;
    compressed = Buffer.from(
      (await execa('zstd', ['-q', '-c', '-3'], { input: plaintext, encoding: 'buffer' })).stdout,
    );
    const sealer = await sealerFor(
      loadConfig({ env: { DB_NAME: 'x', GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile } }),
    );
    sealed = Buffer.concat(await (await sealer.seal(Readable.from([compressed]))).toArray());
    store = s3StoreOf(testConfig({ DB_NAME: 'fetch', S3_PREFIX: `${uniqueName('fetch-zstd')}/` }));
    await store.putBytes(key, sealed);
  });

  afterAll(() => store.remove(key));

  const manifestWith = (stream: { bytes: number; sha256: string }) =>
    ({
      file: { name: key, key, bytes: sealed.length, sha256: sha256Of(sealed) },
      archive: { bytes: plaintext.length, sha256: sha256Of(plaintext), tocEntries: 1 },
      compression: { method: 'zstd', level: 3, stream },
      encryption: { method: 'openpgp', recipients: [] },
    }) as unknown as Manifest;

  it.each(DECRYPTERS)(
    'decrypts and decompresses in one pass into the archive, checking the stream (decrypter: %s)',
    async (decrypter) => {
      const opener = await openerFor(restoreConfig(privateKeyFile, decrypter));
      const fetchWith = (manifest: Manifest) =>
        fetchCheckDecrypt({
          source: { store, key, downloadPath: join(tempDir('fetch'), 'zstd.download') },
          manifest,
          where: `s3://.../${key}`,
          opener,
          archivePath: join(tempDir('fetch-archive'), 'app-backup-20240317-020000.dump'),
          hashArchive: false,
        });
      const stream = { bytes: compressed.length, sha256: sha256Of(compressed) };
      const { archivePath, decrypt } = await fetchWith(manifestWith(stream));
      expect(decrypt.bytes).toBe(plaintext.length);
      expect(readFileSync(archivePath).equals(plaintext)).toBe(true);

      const other = await failureOf(fetchWith(manifestWith({ ...stream, sha256: '0'.repeat(64) })));
      expect(other).toMatchObject({ kind: 'DecryptionFailed', retryable: false });
      expect(other.message).toMatch(
        /^the decrypted stream has \d+ bytes with sha256 [0-9a-f]{64}, the manifest says/,
      );
    },
  );
});
