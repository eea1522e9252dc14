import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { MANIFEST_FORMAT_VERSION, parseManifest, type Manifest } from '../../../src/core/manifest.js';
import {
  checkManifestSignature,
  loadSigningKey,
  signedManifest,
  trustPolicyOf,
} from '../../../src/crypto/signing.js';
import { tempDir } from '../../helpers/files.js';
import { createKeyring } from '../../helpers/gpg.js';

const manifest: Manifest = {
  formatVersion: MANIFEST_FORMAT_VERSION,
  database: 'app',
  serverVersion: '16',
  pgDumpVersion: 'pg_dump 16',
  kind: 'daily',
  createdAt: '2026-12-07T02:00:00.000Z',
  completedAt: '2026-12-07T02:01:00.000Z',
  compression: 6,
  archive: { bytes: 10, sha256: 'a', tocEntries: 3 },
  file: {
    name: 'app-backup-20261207-020000.dump',
    key: 'app-backup-20261207-020000.dump',
    bytes: 10,
    sha256: 'b',
  },
  encryption: { method: 'none', recipients: [] },
  tables: [],
};
const configWith = (env: Record<string, string>) => loadConfig({ env: { DB_NAME: 'app', ...env } });

describe('signed manifests', () => {
  it('signs the exact bytes, names the signer in them, and verifies', async () => {
    const config = configWith({ BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE! });
    const key = (await loadSigningKey(config))!;
    const { text, signature } = await signedManifest(manifest, key);
    const read = parseManifest(text, 'x');
    expect(read.signer?.fingerprint).toBe(key.fingerprint);
    expect(signature).toMatch(/^-----BEGIN PGP SIGNATURE-----/);
    expect(await checkManifestSignature(text, signature, read.signer)).toEqual({
      state: 'valid',
      fingerprint: key.fingerprint,
    });
    // One byte changed (a row count, a checksum): the signature no longer holds.
    const tampered = text.replace('"bytes": 10', '"bytes": 11');
    expect((await checkManifestSignature(tampered, signature, read.signer)).state).toBe('bad');
    expect((await checkManifestSignature(text, undefined, read.signer)).state).toBe('bad');
    expect(await checkManifestSignature(text, undefined, undefined)).toEqual({ state: 'unsigned' });
    expect(await trustPolicyOf(config)).toEqual({
      trusted: [key.fingerprint],
      encryptionConfigured: false,
      allowUnsigned: false,
    });
  });

  it('finds the key that really signed: a forger cannot borrow a trusted fingerprint', async () => {
    const config = configWith({ BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE! });
    const trusted = (await loadSigningKey(config))!;
    const forger = await createKeyring('sign');
    const forgerKey = (await loadSigningKey(configWith({ BACKUP_SIGNING_KEY_FILE: forger.privateKeyFile })))!;
    const { text, signature } = await signedManifest(manifest, forgerKey);
    const claimed = { fingerprint: trusted.fingerprint, publicKey: forgerKey.publicKey };
    expect(await checkManifestSignature(text, signature, claimed)).toMatchObject({ state: 'bad' });
    const asItself = parseManifest(text, 'x').signer;
    expect(await checkManifestSignature(text, signature, asItself)).toEqual({
      state: 'valid',
      fingerprint: forger.fingerprint,
    });
  });

  it('refuses a signing key that can decrypt, and a protected key without its passphrase', async () => {
    const both = await createKeyring('default');
    await expect(
      loadSigningKey(configWith({ BACKUP_SIGNING_KEY_FILE: both.privateKeyFile })),
    ).rejects.toThrow(
      /^BACKUP_SIGNING_KEY_FILE: the key [0-9A-F]{40} can decrypt; the signing key must sign only/,
    );
    const locked = await createKeyring('sign', 'secret-words');
    await expect(
      loadSigningKey(configWith({ BACKUP_SIGNING_KEY_FILE: locked.privateKeyFile })),
    ).rejects.toThrow(/set BACKUP_SIGNING_PASSPHRASE or BACKUP_SIGNING_PASSPHRASE_FILE/);
    const unlocked = configWith({
      BACKUP_SIGNING_KEY_FILE: locked.privateKeyFile,
      BACKUP_SIGNING_PASSPHRASE: 'secret-words',
    });
    expect((await loadSigningKey(unlocked))?.fingerprint).toBe(locked.fingerprint);
  });

  it('trusts the fingerprints and key files BACKUP_TRUSTED_SIGNERS lists, instead of its own key', async () => {
    const other = await createKeyring('sign');
    const listed = `${other.publicKeyFile}, ${'d'.repeat(40)}`;
    const config = configWith({
      BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE!,
      BACKUP_TRUSTED_SIGNERS: listed,
      GPG_RECIPIENT: 'someone@example.com',
    });
    expect(await trustPolicyOf(config, { allowUnsigned: true })).toEqual({
      trusted: [other.fingerprint, 'D'.repeat(40)],
      encryptionConfigured: true,
      allowUnsigned: true,
    });
    const bad = join(tempDir('signers'), 'nothing-here');
    writeFileSync(`${bad}.txt`, 'not a key');
    await expect(trustPolicyOf(configWith({ BACKUP_TRUSTED_SIGNERS: bad }))).rejects.toThrow(
      /is neither a 40-hex fingerprint nor a key file/,
    );
    expect((await trustPolicyOf(configWith({}))).trusted).toEqual([]);
  });
});
