import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { isEncrypted, type Manifest } from '../../../src/core/manifest.js';
import { openerForBackup, type PrivateKey } from '../../../src/crypto/keys.js';
import { noDecryption, type Opener } from '../../../src/crypto/open.js';
import { fetchCheckDecrypt } from '../../../src/restore/fetch.js';
import { failureOf } from '../../helpers/errors.js';
import { tempDir } from '../../helpers/files.js';

// "No encryption" is an opener of its own, chosen from the manifest: a worker without a private key
// restores an unencrypted backup, and refuses an encrypted one before reading a byte of it.

const encryptedWith = (method: 'openpgp' | 'none') => ({ encryption: { method, recipients: [] } });

/** A worker's restore key that counts how often it is asked for. */
function keyOfWorker(opener: Opener | undefined): PrivateKey & { asked: number } {
  const key = Object.assign(async () => (key.asked++, opener), { asked: 0 });
  return key;
}

describe('the opener a backup needs', () => {
  it('is noDecryption for an unencrypted backup, without reading the restore key', async () => {
    const key = keyOfWorker(undefined);
    expect(await openerForBackup(encryptedWith('none'), key)).toBe(noDecryption);
    expect(key.asked).toBe(0);
    expect(isEncrypted(encryptedWith('none'))).toBe(false);
  });

  it("is the worker's restore key for an encrypted one, and none without it", async () => {
    const restoreKey: Opener = { decrypts: true, open: async (sealed) => sealed };
    expect(await openerForBackup(encryptedWith('openpgp'), keyOfWorker(restoreKey))).toBe(restoreKey);
    expect(await openerForBackup(encryptedWith('openpgp'), keyOfWorker(undefined))).toBeUndefined();
    expect(isEncrypted(encryptedWith('openpgp'))).toBe(true);
  });

  it('noDecryption passes the stored bytes through as they are', async () => {
    expect(noDecryption.decrypts).toBe(false);
    expect(await text(await noDecryption.open(Readable.from(['pg_dump ', 'archive'])))).toBe(
      'pg_dump archive',
    );
  });
});

describe('fetchCheckDecrypt of a local file', () => {
  const bytes = randomBytes(100_000);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const manifestOf = (method: 'openpgp' | 'none') =>
    ({
      file: { name: 'app.dump', key: 'app.dump', bytes: bytes.length, sha256 },
      archive: { bytes: bytes.length, sha256, tocEntries: 1 },
      compression: 6,
      ...encryptedWith(method),
    }) as unknown as Manifest;

  it('uses an unencrypted file in place: the stored file is the archive', async () => {
    const dir = tempDir('opener');
    const path = join(dir, 'app.dump');
    writeFileSync(path, bytes);
    const result = await fetchCheckDecrypt({
      source: { path },
      manifest: manifestOf('none'),
      where: path,
      opener: await openerForBackup(manifestOf('none'), keyOfWorker(undefined)),
      archivePath: join(dir, 'archive.dump'),
      hashArchive: true,
    });
    expect(result.archivePath).toBe(path);
    expect(result.decrypt.bytes).toBe(bytes.length);
    expect(readdirSync(dir)).toEqual(['app.dump']);
  });

  it('decompresses an unencrypted zstd file into the archive, checking both against the manifest', async () => {
    const dir = tempDir('opener');
    const path = join(dir, 'app.dump.zst');
    const compressed = execFileSync('zstd', ['-q', '-c', '-3'], { input: bytes });
    writeFileSync(path, compressed);
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const manifest = {
      ...manifestOf('none'),
      file: {
        name: 'app.dump.zst',
        key: 'app.dump.zst',
        bytes: compressed.length,
        sha256: digest(compressed),
      },
      compression: {
        method: 'zstd',
        level: 3,
        stream: { bytes: compressed.length, sha256: digest(compressed) },
      },
    } as Manifest;
    const fetch = (archivePath: string, m: Manifest) =>
      fetchCheckDecrypt({
        source: { path },
        manifest: m,
        where: path,
        opener: noDecryption,
        archivePath,
        hashArchive: true,
      });
    const result = await fetch(join(dir, 'app.dump'), manifest);
    expect(result.archivePath).toBe(join(dir, 'app.dump'));
    expect(result.decrypt.bytes).toBe(bytes.length);
    expect(readFileSync(result.archivePath).equals(bytes)).toBe(true);

    const wrong = { ...manifest, archive: { ...manifest.archive, sha256: digest(Buffer.from('x')) } };
    const error = await failureOf(fetch(join(dir, 'other.dump'), wrong));
    expect(error).toMatchObject({ kind: 'DecryptionFailed' });
    expect(readdirSync(dir).sort()).toEqual(['app.dump', 'app.dump.zst']);
  });

  it('refuses an encrypted file on a worker without the private key, before reading it', async () => {
    const dir = tempDir('opener');
    const error = await failureOf(
      fetchCheckDecrypt({
        source: { path: join(dir, 'not-even-there.dump.gpg') },
        manifest: manifestOf('openpgp'),
        where: 'app.dump.gpg',
        opener: await openerForBackup(manifestOf('openpgp'), keyOfWorker(undefined)),
        archivePath: join(dir, 'archive.dump'),
        hashArchive: true,
      }),
    );
    expect(error).toMatchObject({ kind: 'Configuration' });
    expect(error.message).toBe('GPG_PRIVATE_KEY_FILE: not set on this worker; the backup is encrypted');
  });
});
