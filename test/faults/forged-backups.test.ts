import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { backupFileName, backupStem, manifestFileName } from '../../src/core/naming.js';
import { parseManifest, type Manifest } from '../../src/core/manifest.js';
import { signatureKeyFor } from '../../src/core/trust.js';
import { loadSigningKey, signedManifest, type SigningKey } from '../../src/crypto/signing.js';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { s3StoreOf } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { startWorker } from '../../src/worker/index.js';

// Issue #17, attack 1: someone who can write to the bucket, and has the public encryption key (public
// by design), plants backups of their own. Every reader trusts only manifests signed by a trusted
// key: each planted backup is refused (exit 4, one line naming the object and the reason) before a
// byte of it reaches a database, and the live database keeps its rows. The worker here allows
// --force (development, no approvers), so that the signature is what refuses.

const database = uniqueName('forged');
const scratch = uniqueName('forged_copy');
let keyring: TestKeyring;
let worker: TestWorker;
let config: Config;
let backup: BackupResult;
let signingKey: SigningKey;
let before: Record<string, string>;

const bucket = () => s3StoreOf(config);
const liveRows = () =>
  withClient(database, async (c) => Number((await c.query('SELECT count(*) FROM users')).rows[0].count));

/** The real backup's manifest, as the bucket holds it. */
async function realManifest(): Promise<Manifest> {
  const path = join(config.backup.dir, backup.manifestKey);
  return parseManifest(readFileSync(path, 'utf8'), path);
}

/**
 * Plants a backup in the bucket under a stamp of the attacker's choosing: `data` as the object, and
 * a manifest whose size and SHA-256 match it, signed by `signer` (or left unsigned).
 */
async function plant(
  stamp: string,
  data: Buffer,
  changes: Partial<Manifest>,
  signer?: SigningKey,
): Promise<{ key: string; manifestKey: string }> {
  const prefix = config.backup.prefix;
  const encrypted = changes.encryption?.method !== 'none';
  const key = backupFileName({ prefix, stamp, encrypted });
  const manifestKey = manifestFileName(backupStem({ prefix, stamp }));
  const real = await realManifest();
  const manifest: Manifest = {
    ...real,
    createdAt: `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}.000Z`,
    file: { name: key, key, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') },
    ...changes,
  };
  const { text, signature } = await signedManifest(manifest, signer);
  await bucket().putBytes(key, data);
  if (signature) await bucket().putBytes(signatureKeyFor(manifestKey), signature);
  await bucket().putBytes(manifestKey, text);
  return { key: `${config.s3!.prefix}${key}`, manifestKey };
}

/** An archive of the attacker's, encrypted with gpg to the public key, as anyone may. */
async function attackersArchive(): Promise<Buffer> {
  const folder = mkdtempSync(join(tmpdir(), 'forger-'));
  writeFileSync(join(folder, 'evil.dump'), 'CREATE FUNCTION evil() ... SECURITY DEFINER');
  await keyring.encrypt(join(folder, 'evil.dump'), join(folder, 'evil.dump.gpg'));
  return readFileSync(join(folder, 'evil.dump.gpg'));
}

/** A restore of a planted key over the live database, --force: refused with exit 4 and nothing changes. */
async function expectRefused(s3Key: string, reason: RegExp): Promise<void> {
  const run = await backupctl(['restore', '--s3-key', s3Key, '--force', '--wait'], worker.env);
  const where = `s3://${config.s3!.bucket}/${s3Key}`.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  expectOneLineError(run, 4, new RegExp(`^error: ${where}: not trusted: ${reason.source}`));
  expect(await tableFingerprints(database)).toEqual(before);
  expect(await liveRows()).toBe(201);
}

beforeAll(async () => {
  keyring = await createKeyring();
  await seedDatabase(database, 200);
  worker = await startTestWorker('forged', {
    DB_NAME: database,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    RESTORE_ALLOW_FORCE: 'true',
  });
  config = loadConfig({ env: worker.env });
  signingKey = (await loadSigningKey(config))!;
  const run = await backupctl(['backup', '--wait', '--json'], worker.env);
  expect(run.exitCode, run.stderr).toBe(0);
  backup = JSON.parse(run.stdout) as BackupResult;
  // Written after the backup: a restore over the live database would lose it.
  await withClient(database, (c) => c.query(`INSERT INTO users (email) VALUES ('after@example.com')`));
  before = await tableFingerprints(database);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  for (const name of [database, scratch, `${scratch}_latest`]) await dropDatabase(name);
});

describe('a signed backup', () => {
  it('restores, row for row', async () => {
    const run = await backupctl(
      ['restore', '--s3-key', backup.remote!.key, '--target-db', scratch, '--create-db', '--force', '--wait'],
      worker.env,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const restored = await withClient(scratch, async (c) =>
      Number((await c.query('SELECT count(*) FROM users')).rows[0].count),
    );
    expect(restored).toBe(200);
  });

  it('is checked by gpg alone: gpg --verify and sha256sum, as docs/security.md shows', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gnupg-verify-'));
    const gpg = (args: string[]) => execa('gpg', ['--homedir', home, '--batch', ...args], { reject: false });
    const publicKey = join(dirname(process.env.TEST_BACKUP_SIGNING_KEY_FILE!), 'signing-public.asc');
    expect((await gpg(['--import', publicKey])).exitCode).toBe(0);
    const manifestPath = join(config.backup.dir, backup.manifestKey);
    const verify = await gpg(['--verify', signatureKeyFor(manifestPath), manifestPath]);
    expect(verify.exitCode, verify.stderr).toBe(0);
    expect(verify.stderr).toContain('Good signature');
    const sum = await execa('sha256sum', [join(config.backup.dir, backup.key)]);
    expect(sum.stdout.split(' ')[0]).toBe((await realManifest()).file.sha256);

    // One changed byte in the manifest (a checksum an attacker made match their object): refused.
    const tampered = join(home, 'tampered.manifest.json');
    writeFileSync(
      tampered,
      // Another digit than the one there (a digest may well begin with 0).
      readFileSync(manifestPath, 'utf8').replace(
        /"sha256": "([0-9a-f])/,
        (_, digit: string) => `"sha256": "${digit === '0' ? '1' : '0'}`,
      ),
    );
    const bad = await gpg(['--verify', signatureKeyFor(manifestPath), tampered]);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('BAD signature');
  });
});

describe('a planted backup', () => {
  it('(a) a forged manifest and object, unsigned: refused, exit 4, the database unchanged', async () => {
    const forged = await plant('20261201-010000', await attackersArchive(), {});
    await expectRefused(forged.key, /unsigned$/);
  });

  it('(a) the same, carrying the real signature of another manifest: bad signature', async () => {
    const forged = await plant('20261201-020000', await attackersArchive(), {
      signer: (await realManifest()).signer,
    });
    const realSignature = readFileSync(signatureKeyFor(join(config.backup.dir, backup.manifestKey)), 'utf8');
    await bucket().putBytes(signatureKeyFor(forged.manifestKey), realSignature);
    await expectRefused(forged.key, /bad signature/);
  });

  it('(d) signed by a key that is not trusted: unknown signer, exit 4, the database unchanged', async () => {
    const forger = await createKeyring('sign');
    const forgerKey = (await loadSigningKey(
      loadConfig({ env: { DB_NAME: 'x', BACKUP_SIGNING_KEY_FILE: forger.privateKeyFile } }),
    ))!;
    const forged = await plant('20261201-030000', await attackersArchive(), {}, forgerKey);
    await expectRefused(forged.key, new RegExp(`unknown signer ${forger.fingerprint}$`));
  });

  it('(c) unencrypted while the worker has keys: refused, even when signed by a trusted key', async () => {
    const plain = Buffer.from('PGDMP plain archive of the attacker');
    const planted = await plant(
      '20261201-040000',
      plain,
      { encryption: { method: 'none', recipients: [] } },
      signingKey,
    );
    await expectRefused(planted.key, /not encrypted while keys are configured$/);
    const unsigned = await plant('20261201-050000', plain, {
      encryption: { method: 'none', recipients: [] },
    });
    await expectRefused(unsigned.key, /unsigned$/);
  });

  it('(b) dated in the future: not picked by --latest nor by a drill, and named as passed over', async () => {
    const archive = readFileSync(join(config.backup.dir, backup.key));
    // One unsigned, one even signed by the trusted key: a date beyond the clock skew is refused alike.
    await plant('20991231-235959', archive, {});
    const future = await plant('20991231-235958', archive, {}, signingKey);
    await expectRefused(future.key, /dated in the future \(2099-12-31T23:59:58\.000Z\)$/);

    const latest = await backupctl(
      [
        'restore',
        '--latest',
        '--target-db',
        `${scratch}_latest`,
        '--create-db',
        '--force',
        '--wait',
        '--json',
      ],
      worker.env,
    );
    expect(latest.exitCode, latest.stderr).toBe(0);
    const { status } = JSON.parse(latest.stdout) as {
      status: { plan: { backup: { key: string; signedBy: string; passedOver: string[] } } };
    };
    expect(status.plan.backup.key).toBe(backup.key);
    expect(status.plan.backup.signedBy).toBe(signingKey.fingerprint);
    expect(status.plan.backup.passedOver.join('\n')).toMatch(
      /20991231-235959\.dump\.gpg: not trusted: unsigned/,
    );

    const drill = await backupctl(['drill', '--wait', '--json'], worker.env);
    expect(drill.exitCode, drill.stderr).toBe(0);
    expect((JSON.parse(drill.stdout) as { report: { backup: { key: string } } }).report.backup.key).toBe(
      backup.key,
    );

    // health counts the age of the newest trusted backup: a planted one does not make it look young.
    const health = await backupctl(['health'], worker.env);
    expect(health.stdout).toMatch(new RegExp(`/backup-age: newest complete backup ${backup.key} is `));

    // list shows the real backup only, and names each planted one on stderr.
    const list = await backupctl(['list'], worker.env);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(
      list.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual([backup.key]);
    expect(list.stderr).toMatch(/^warning: s3:\/\/.*20991231-235959\.dump\.gpg: not trusted: unsigned$/m);
    expect(await liveRows()).toBe(201);
  });
});

describe('a production worker', () => {
  it('refuses to start without a signing key: it could not sign what it writes', async () => {
    const production = loadConfig({
      env: {
        ...worker.env,
        BACKUP_ENV: 'production',
        DB_SSLMODE: 'require',
        RESTORE_ALLOW_FORCE: 'false',
        S3_ENDPOINT: 'https://127.0.0.1:1',
        BACKUP_SIGNING_KEY_FILE: '',
      },
    });
    await expect(startWorker(production)).rejects.toThrow(
      /^BACKUP_SIGNING_KEY_FILE: a production worker signs every backup it writes/,
    );
  });
});

describe('--allow-unsigned', () => {
  it('restores an unsigned backup (an old one), recorded in the plan; never a wrongly signed one', async () => {
    const archive = readFileSync(join(config.backup.dir, backup.key));
    const old = await plant('20261101-020000', archive, {});
    const refused = await backupctl(['restore', '--s3-key', old.key, '--dry-run', '--wait'], worker.env);
    expectOneLineError(refused, 4, /: not trusted: unsigned$/);
    const allowed = await backupctl(
      ['restore', '--s3-key', old.key, '--allow-unsigned', '--dry-run', '--wait', '--json'],
      worker.env,
    );
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    const { status } = JSON.parse(allowed.stdout) as { status: { plan: { backup: { signedBy: string } } } };
    expect(status.plan.backup.signedBy).toBe('unsigned');

    const forger = await createKeyring('sign');
    const forgerKey = (await loadSigningKey(
      loadConfig({ env: { DB_NAME: 'x', BACKUP_SIGNING_KEY_FILE: forger.privateKeyFile } }),
    ))!;
    const forged = await plant('20261101-030000', archive, {}, forgerKey);
    const stillRefused = await backupctl(
      ['restore', '--s3-key', forged.key, '--allow-unsigned', '--force', '--wait'],
      worker.env,
    );
    expectOneLineError(stillRefused, 4, /: not trusted: unknown signer /);
    expect(await tableFingerprints(database)).toEqual(before);
  });
});
