import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { BackupError } from '../../src/core/errors.js';
import { sealerFor } from '../../src/crypto/keys.js';
import { startTocReader } from '../../src/postgres/verify.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';

// What we encrypt, plain gpg must decrypt: checked with keys gpg itself made.

describe('OpenPGP sealing', () => {
  it('encrypts to every key in GPG_PUBLIC_KEY_FILE, and each holder decrypts with gpg', async () => {
    const [alice, bob] = await Promise.all([createKeyring(), createKeyring()]);
    const dir = tempDir('seal');
    const bothKeys = join(dir, 'both.asc');
    writeFileSync(
      bothKeys,
      (await readFile(alice.publicKeyFile, 'utf8')) + (await readFile(bob.publicKeyFile, 'utf8')),
    );
    const sealer = await sealerFor(loadConfig({ env: { DB_NAME: 'x', GPG_PUBLIC_KEY_FILE: bothKeys } }));
    expect(sealer.fingerprints.sort()).toEqual([alice.fingerprint, bob.fingerprint].sort());

    const plaintext = join(dir, 'archive.dump');
    writeFileSync(plaintext, Buffer.alloc(3 * 1024 * 1024 + 7, 'durable'));
    const plaintextSha = await sha256File(plaintext);
    const sealed = join(dir, 'archive.dump.gpg');
    await pipeline(await sealer.seal(createReadStream(plaintext)), createWriteStream(sealed));

    for (const holder of [alice, bob]) {
      const out = join(dir, `out-${holder.fingerprint}`);
      await holder.decrypt(sealed, out);
      expect(await sha256File(out)).toBe(plaintextSha);
    }
  });

  it('exports the GPG_RECIPIENT key from the local GnuPG keyring when no key file is given', async () => {
    const keyring = await createKeyring();
    process.env.GNUPGHOME = keyring.home;
    try {
      const sealer = await sealerFor(
        loadConfig({ env: { DB_NAME: 'x', GPG_RECIPIENT: 'backup-default@example.com' } }),
      );
      expect(sealer.fingerprints).toEqual([keyring.fingerprint]);
      await expect(
        sealerFor(loadConfig({ env: { DB_NAME: 'x', GPG_RECIPIENT: 'nobody@example.com' } })),
      ).rejects.toThrow('GPG_RECIPIENT: no public key for nobody@example.com');
    } finally {
      delete process.env.GNUPGHOME;
    }
  });

  it('refuses a private key where the public key belongs', async () => {
    const keyring = await createKeyring();
    const { stdout } = await execa('gpg', ['--batch', '--armor', '--export-secret-keys'], {
      env: { GNUPGHOME: keyring.home },
    });
    const file = join(keyring.home, 'private.asc');
    writeFileSync(file, stdout);
    const error = await sealerFor(loadConfig({ env: { DB_NAME: 'x', GPG_PUBLIC_KEY_FILE: file } })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).message).toBe(
      'GPG_PUBLIC_KEY_FILE: holds a private key; give the public key only',
    );
  });
});

describe('archive verification', () => {
  it('reads the table of contents of a streamed archive, and fails anything else', async () => {
    const database = uniqueName('toc');
    await seedDatabase(database, 10);
    const archive = await execa(
      'pg_dump',
      ['-h', '127.0.0.1', '-U', 'postgres', '--format=custom', database],
      {
        encoding: 'buffer',
      },
    );
    await dropDatabase(database);
    const good = startTocReader();
    good.input.end(archive.stdout);
    expect(await good.entries).toBeGreaterThan(10);

    const garbage = startTocReader();
    garbage.input.end('PGDMP but not really');
    const error = await garbage.entries.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).kind).toBe('DumpFailed');
  });
});
