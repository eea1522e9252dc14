import { randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { BackupError } from '../../src/core/errors.js';
import { sealerFor, openerFor } from '../../src/crypto/keys.js';
import type { Opener } from '../../src/crypto/open.js';
import { decryptFile, type DecryptOptions } from '../../src/restore/decrypt.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { failureOf } from '../helpers/errors.js';
import { createKeyring, DECRYPTERS, restoreConfig, type TestKeyring } from '../helpers/gpg.js';
import { eventually, parentOf, processesMatching } from '../helpers/processes.js';

// Restores must read what our backups wrote and what plain gpg wrote, and must never leave behind a
// file that did not decrypt to the very end. Both decrypters keep this contract, with the same words.

/** What a reread does with a stored file: decrypt it into targetPath, hashed. */
function decrypted({
  sourcePath,
  hashWritten = true,
  ...options
}: Omit<DecryptOptions, 'hashWritten'> & { sourcePath: string; hashWritten?: boolean }) {
  return decryptFile(sourcePath, { hashWritten, ...options });
}

const MiB = 1024 * 1024;
/** Writes size random bytes to path and, sealed by our backup's sealer for keyring, to path.gpg. */
async function sealedFile(dir: string, keyring: TestKeyring, size: number) {
  const plaintextPath = join(dir, 'archive.dump');
  writeFileSync(plaintextPath, randomBytes(size));
  const sealer = await sealerFor(
    loadConfig({ env: { DB_NAME: 'x', GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile } }),
  );
  const sealedPath = `${plaintextPath}.gpg`;
  await pipeline(await sealer.seal(createReadStream(plaintextPath)), createWriteStream(sealedPath));
  return { plaintextPath, sealedPath };
}

/** Decrypts a damaged file: it must fail as DecryptionFailed, for good, and leave nothing behind. */
async function expectNothingRestored(sourcePath: string, opener: Opener): Promise<BackupError> {
  const dir = tempDir('restore');
  const error = await failureOf(decrypted({ sourcePath, targetPath: join(dir, 'archive.dump'), opener }));
  expect(error.kind).toBe('DecryptionFailed');
  expect(error.retryable).toBe(false);
  expect(readdirSync(dir)).toEqual([]);
  return error;
}

let keyring: TestKeyring;

beforeAll(async () => {
  keyring = await createKeyring();
});

it('has no opener without GPG_PRIVATE_KEY_FILE', async () => {
  expect(await openerFor(loadConfig({ env: { DB_NAME: 'x' } }))).toBeUndefined();
});

describe.each(DECRYPTERS)('decrypting a backup with %s', (decrypter) => {
  const openerOf = async (keyring: TestKeyring, passphrase?: string): Promise<Opener> =>
    (await openerFor(restoreConfig(keyring.privateKeyFile, decrypter, passphrase)))!;
  let sealed: { plaintextPath: string; sealedPath: string };

  beforeAll(async () => {
    sealed = await sealedFile(tempDir('sealed'), keyring, 3 * MiB + 11);
  });

  it('restores what our backups encrypt, byte for byte, readable by the owner only', async () => {
    const targetPath = join(tempDir('restore'), 'archive.dump');
    const result = await decrypted({
      sourcePath: sealed.sealedPath,
      targetPath,
      opener: await openerOf(keyring),
    });
    const expectedSha = await sha256File(sealed.plaintextPath);
    expect(result).toEqual({ bytes: 3 * MiB + 11, sha256: expectedSha });
    expect(await sha256File(targetPath)).toBe(expectedSha);
    expect(statSync(targetPath).mode & 0o777).toBe(0o600);
  });

  it('restores what gpg --encrypt wrote with its defaults (compressed, its own packet layout)', async () => {
    const dir = tempDir('gpg');
    const plaintextPath = join(dir, 'archive.dump');
    writeFileSync(plaintextPath, randomBytes(2 * MiB + 5));
    await keyring.encrypt(plaintextPath, `${plaintextPath}.gpg`);
    const targetPath = join(dir, 'restored.dump');
    const result = await decrypted({
      sourcePath: `${plaintextPath}.gpg`,
      targetPath,
      opener: await openerOf(keyring),
    });
    expect(result.sha256).toBe(await sha256File(plaintextPath));
    expect(await sha256File(targetPath)).toBe(result.sha256);
  });

  it('refuses a message for other keys, naming both sides', async () => {
    const stranger = await createKeyring();
    const error = await expectNothingRestored(sealed.sealedPath, await openerOf(stranger));
    expect(error.message).toMatch(
      /^encrypted to other keys: [0-9A-F]{16}; this key is [0-9A-F]{16}, [0-9A-F]{16}$/,
    );
  });

  it('fails a ciphertext with one byte changed, though the plaintext streamed before the check', async () => {
    const bytes = readFileSync(sealed.sealedPath);
    bytes[bytes.length >> 1]! ^= 0x01;
    const flipped = join(tempDir('flipped'), 'archive.dump.gpg');
    writeFileSync(flipped, bytes);
    const opener = await openerOf(keyring);

    // Both decrypters release the plaintext as it goes and report the failed check at the end: the
    // stream must error, as a typed error.
    let streamed = 0;
    const streamError = await failureOf(
      (async () => {
        for await (const chunk of await opener.open(createReadStream(flipped)))
          streamed += (chunk as Buffer).length;
      })(),
    );
    expect(streamed).toBeGreaterThan(MiB);
    expect(streamError.kind).toBe('DecryptionFailed');

    const error = await expectNothingRestored(flipped, opener);
    expect(error.message).toMatch(/^integrity check failed/);
  });

  it('fails a truncated ciphertext', async () => {
    const truncated = join(tempDir('truncated'), 'archive.dump.gpg');
    writeFileSync(truncated, readFileSync(sealed.sealedPath).subarray(0, 2 * MiB));
    const error = await expectNothingRestored(truncated, await openerOf(keyring));
    expect(error.message).toMatch(/truncated/);
  });

  it('fails a ciphertext cut inside its first packet', async () => {
    // gpg 2.2 exits 0 for it, with no plaintext. openpgp.js calls it truncated, gpg an invalid packet.
    const truncated = join(tempDir('truncated'), 'archive.dump.gpg');
    writeFileSync(truncated, readFileSync(sealed.sealedPath).subarray(0, 200));
    const error = await expectNothingRestored(truncated, await openerOf(keyring));
    expect(error.message).toMatch(/^(the backup ends early|not an OpenPGP message)/);
  });

  it('fails an empty file', async () => {
    const empty = join(tempDir('empty'), 'archive.dump.gpg');
    writeFileSync(empty, '');
    const error = await expectNothingRestored(empty, await openerOf(keyring));
    expect(error.message).toMatch(/^not an OpenPGP message/);
  });

  it('fails, for another try, when the target cannot be written', async () => {
    const targetPath = join(tempDir('restore'), 'missing-dir', 'archive.dump');
    const opener = await openerOf(keyring);
    const error = await failureOf(decrypted({ sourcePath: sealed.sealedPath, targetPath, opener }));
    expect(error.kind).toBe('DecryptionFailed');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`cannot write ${targetPath}.partial: ENOENT`);
  });

  it('fails, for another try, naming the file, when the disk is full, leaving nothing', async () => {
    // We are root in the test environment: a tmpfs of 1 MiB is a disk that fills up for real.
    const full = tempDir('restore-full');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', full]);
    try {
      const targetPath = join(full, 'archive.dump');
      const opener = await openerOf(keyring);
      const error = await failureOf(decrypted({ sourcePath: sealed.sealedPath, targetPath, opener }));
      expect(error.kind).toBe('DecryptionFailed');
      expect(error.retryable).toBe(true);
      expect(error.message).toBe(`cannot write ${targetPath}.partial: no space left on device`);
      expect(readdirSync(full)).toEqual([]);
    } finally {
      await execa('umount', ['--lazy', full]);
    }
  });

  it('stops when aborted, leaving nothing', async () => {
    const dir = tempDir('restore');
    const opener = await openerOf(keyring);
    const signal = AbortSignal.abort();
    const error = await decrypted({
      sourcePath: sealed.sealedPath,
      targetPath: join(dir, 'archive.dump'),
      opener,
      signal,
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('fails a file that is not OpenPGP, such as an unencrypted archive', async () => {
    // Random bytes may start like a packet header and fail otherwise: pg_dump's magic never does.
    const unencrypted = join(tempDir('unencrypted'), 'archive.dump');
    writeFileSync(unencrypted, Buffer.concat([Buffer.from('PGDMP'), randomBytes(MiB)]));
    const error = await expectNothingRestored(unencrypted, await openerOf(keyring));
    expect(error.message).toMatch(/^not an OpenPGP message/);
  });

  describe('the private key', () => {
    const passphrase = 'correct horse battery staple';

    it('is unlocked with GPG_PASSPHRASE, and refused without it or with a wrong one', async () => {
      const keyring = await createKeyring('default', passphrase);
      const { sealedPath, plaintextPath } = await sealedFile(tempDir('locked'), keyring, MiB);
      const result = await decrypted({
        sourcePath: sealedPath,
        targetPath: join(tempDir('restore'), 'archive.dump'),
        opener: await openerOf(keyring, passphrase),
      });
      expect(result.sha256).toBe(await sha256File(plaintextPath));

      const wrong = await failureOf(openerOf(keyring, 'not the passphrase'));
      expect(wrong.kind).toBe('Configuration');
      expect(wrong.message).toMatch(
        /^GPG_PRIVATE_KEY_FILE: GPG_PASSPHRASE does not unlock the key [0-9A-F]{40}$/,
      );
      expect(wrong.message).not.toContain('not the passphrase');

      const missing = await failureOf(openerOf(keyring));
      expect(missing.kind).toBe('Configuration');
      expect(missing.message).toMatch(
        /^GPG_PRIVATE_KEY_FILE: .*protected by a passphrase; set GPG_PASSPHRASE/,
      );
    });

    it('must be a private key', async () => {
      const error = await failureOf(openerFor(restoreConfig(keyring.publicKeyFile, decrypter)));
      expect(error.kind).toBe('Configuration');
      expect(error.message).toBe(
        'GPG_PRIVATE_KEY_FILE: holds a public key only; restore needs the private key',
      );

      const text = join(tempDir('not-a-key'), 'key.asc');
      writeFileSync(text, 'just some text');
      expect((await failureOf(openerFor(restoreConfig(text, decrypter)))).message).toBe(
        'GPG_PRIVATE_KEY_FILE: no armored OpenPGP private key found',
      );
    });
  });

  describe('memory', () => {
    it('stays flat while a 200 MB backup decrypts', async () => {
      const sealedPath = await largeSealedFile();
      const opener = await openerOf(keyring);

      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      try {
        const result = await decrypted({
          sourcePath: sealedPath,
          targetPath: join(tempDir('large'), 'large.dump'),
          opener,
        });
        expect(result.bytes).toBe(200 * MiB);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      const growthMiB = (peak - before) / MiB;
      console.log(
        `decrypting 200 MiB grew the RSS by ${growthMiB.toFixed(1)} MiB (from ${(before / MiB).toFixed(0)} MiB)`,
      );
      expect(growthMiB).toBeLessThan(100);
    });
  });
});

describe('gpg as it decrypts', () => {
  it('gets the passphrase through a pipe, never on its command line or in its environment', async () => {
    const passphrase = 'pipe-secret-never-in-ps';
    const keyring = await createKeyring('default', passphrase);
    const { sealedPath } = await sealedFile(tempDir('argv'), keyring, 8 * MiB);
    // The worker's own environment holds the passphrase when it is set as GPG_PASSPHRASE.
    vi.stubEnv('GPG_PASSPHRASE', passphrase);
    try {
      const opener = await openerFor(restoreConfig(keyring.privateKeyFile, 'gpg', passphrase));
      // Unread, the plaintext fills the pipe and gpg waits: it is there to be looked at.
      const plaintext = await opener!.open(createReadStream(sealedPath));
      const running = await eventually(() =>
        // This test's own gpg: other test files may decrypt at the same time.
        processesMatching('--decrypt').filter(
          (p) => p.cmdline.startsWith('gpg ') && parentOf(p.pid) === process.pid,
        ),
      );
      expect(running).toHaveLength(1);
      expect(running[0]!.cmdline).not.toContain(passphrase);
      expect(running[0]!.environ).not.toContain(passphrase);
      expect(running[0]!.environ).toContain('GNUPGHOME=');
      expect(Buffer.concat(await plaintext.toArray()).length).toBe(8 * MiB);
    } finally {
      vi.stubEnv('GPG_PASSPHRASE', undefined);
    }
  });
});

let largeSealed: Promise<string> | undefined;

/** 200 MiB encrypted by gpg, made once for both decrypters. */
function largeSealedFile(): Promise<string> {
  return (largeSealed ??= (async () => {
    const sealedPath = join(tempDir('large'), 'large.dump.gpg');
    // gpg encrypts in its own process, so this one's memory is at rest when the measurement starts.
    const gpg = execa(
      'gpg',
      [
        '--batch',
        '--recipient',
        keyring.fingerprint,
        '--compress-algo',
        'none',
        '--output',
        sealedPath,
        '--encrypt',
      ],
      { env: { GNUPGHOME: keyring.home } },
    );
    await pipeline(Readable.from(randomChunks(200, MiB)), gpg.stdin!);
    await gpg;
    return sealedPath;
  })());
}

function* randomChunks(count: number, size: number): Generator<Buffer> {
  for (let i = 0; i < count; i++) yield randomBytes(size);
}
