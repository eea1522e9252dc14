import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup, type BackupResult } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { parseManifest } from '../../src/core/manifest.js';
import { listCompleteBackups } from '../../src/storage/catalog.js';
import { FsStore } from '../../src/storage/fs.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { createDatabase, dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { download, s3StoreOf } from '../helpers/s3.js';
import { testConfig, uniqueName } from '../helpers/services.js';
import { decodedPayloads, recordHistory } from '../helpers/histories.js';
import { withWorker } from '../helpers/temporal.js';

const DB_PASSWORD = 'db-pass-never-shown-7f3a';

describe('backup workflow on the real services', () => {
  const source = uniqueName('e2e_src');
  const scratch = uniqueName('e2e_restore');
  let keyring: TestKeyring;
  let config: Config;
  let result: BackupResult;
  let workflowId: string;
  let history: string;

  beforeAll(async () => {
    await seedDatabase(source);
    keyring = await createKeyring();
    config = testConfig({
      DB_NAME: source,
      DB_PASSWORD, // trust auth ignores it; it must still never show
      BACKUP_DIR: tempDir('backups'),
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      S3_PREFIX: `${uniqueName('e2e')}/`,
      TEMPORAL_TASK_QUEUE: uniqueName('e2e'),
    });
    await withWorker(config, async (client) => {
      const handle = await startBackup(client, { database: source, taskQueue: config.temporal.taskQueue });
      workflowId = handle.workflowId;
      result = await waitForBackup(handle);
      history = JSON.stringify((await handle.fetchHistory()).events);
      await recordHistory(handle, 'backup');
    });
  });

  afterAll(async () => {
    await dropDatabase(source);
    await dropDatabase(scratch);
  });

  it('stores the same encrypted file locally and in the bucket', async () => {
    const remote = s3StoreOf(config);
    const downloaded = join(tempDir('download'), 'backup.gpg');
    await download(remote, result.key, downloaded);
    expect(await sha256File(downloaded)).toBe(result.sha256);
    expect(await sha256File(result.localPath)).toBe(result.sha256);
    expect(result.key).toMatch(new RegExp(`^${source}-backup-\\d{8}-\\d{6}\\.dump\\.zst\\.gpg$`));
  });

  it('is read by gpg --decrypt | zstd -d | pg_restore --list, the manual path', async () => {
    const { stdout } = await execa(
      'sh',
      ['-c', 'gpg --batch --quiet --decrypt "$1" | zstd -d | pg_restore --list', 'sh', result.localPath],
      { env: { GNUPGHOME: keyring.home } },
    );
    expect(stdout).toContain('TABLE DATA public users');
    expect(stdout).toMatch(/Format: CUSTOM/);
  });

  it('restores, after gpg --decrypt, zstd -d and pg_restore, to exactly the source contents', async () => {
    const plain = join(tempDir('plain'), 'backup.dump');
    const compressed = `${plain}.zst`;
    await keyring.decrypt(result.localPath, compressed);
    await execa('zstd', ['-q', '-d', compressed, '-o', plain]);
    await createDatabase(scratch);
    await execa('pg_restore', ['--no-owner', '-h', '127.0.0.1', '-U', 'postgres', '-d', scratch, plain]);
    const [before, after] = await Promise.all([tableFingerprints(source), tableFingerprints(scratch)]);
    expect(Object.keys(before)).toHaveLength(7); // 4 tables, 3 sequences
    expect(after).toEqual(before);
  });

  it('writes a manifest beside the backup, locally and remotely, with row counts from the snapshot', async () => {
    const local = parseManifest(await readFile(join(config.backup.dir, result.manifestKey), 'utf8'), 'local');
    const remoteText = await (await s3StoreOf(config).read(result.manifestKey)).toArray();
    expect(parseManifest(Buffer.concat(remoteText).toString(), 'remote')).toEqual(local);
    expect(local.encryption.recipients).toEqual([keyring.fingerprint]);
    expect(local.tables.find((t) => t.schema === 'public' && t.table === 'users')?.rows).toBe(2000);
    expect(local.tables.find((t) => t.schema === 'odd schema' && t.table === 'Mixed Case')?.rows).toBe(2);
    expect(local.archive.tocEntries).toBeGreaterThan(10);
    expect(local.remote?.etag).toBeTruthy();
    expect(local.file.sha256).toBe(result.sha256);
    // zstd at level 3, the default, around an uncompressed dump: the stream is what gpg wrapped.
    expect(local.compression).toEqual({
      method: 'zstd',
      level: 3,
      stream: { bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    const plain = join(tempDir('plain'), 'backup.dump.zst');
    await keyring.decrypt(result.localPath, plain);
    expect(await sha256File(plain)).toBe((local.compression as { stream: { sha256: string } }).stream.sha256);
  });

  it('leaves no plaintext, with files 0600 and the directory 0700', () => {
    expect(readdirSync(join(config.backup.dir, '.work'))).toEqual([]);
    expect(statSync(config.backup.dir).mode & 0o777).toBe(0o700);
    expect(statSync(result.localPath).mode & 0o777).toBe(0o600);
    expect(readdirSync(config.backup.dir).filter((f) => f.endsWith('.dump'))).toEqual([]);
  });

  it('shows every step as an activity in the history, and no secret anywhere in it', () => {
    for (const activity of ['planBackup', 'dumpVerifyEncrypt', 'uploadBackup', 'writeManifest']) {
      expect(history).toContain(`"name":"${activity}"`);
    }
    const secrets = [DB_PASSWORD, config.s3!.secretAccessKey!, config.s3!.accessKeyId!];
    for (const secret of secrets) expect(history).not.toContain(secret);
    expect(history).not.toMatch(/BEGIN PGP|PGPASSWORD/);
    // Payloads are base64 JSON in the history: decode them all and look again.
    const decoded = decodedPayloads(history);
    expect(decoded.join('\n')).toContain(result.key);
    // The fused dump step still reports each runbook step's outcome in the history.
    const dumpOutcome = decoded.find((d) => d.includes('"tocEntries"') && d.includes('"recipients"'));
    expect(JSON.parse(dumpOutcome!)).toMatchObject({
      dump: { bytes: expect.any(Number), durationMs: expect.any(Number) },
      verify: { tocEntries: result.tocEntries },
      compress: { method: 'zstd', level: 3, bytes: expect.any(Number) },
      encrypt: { bytes: result.fileBytes, sha256: result.sha256, method: 'openpgp' },
    });
    for (const secret of secrets) expect(decoded.join('\n')).not.toContain(secret);
    expect(workflowId).toMatch(new RegExp(`^backup-${source}-`));
  });

  it('lists the backup as complete in both places', async () => {
    const entries = await listCompleteBackups([new FsStore(config.backup.dir), s3StoreOf(config)]);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.locations).toEqual([config.backup.dir, s3StoreOf(config).location]);
  });
});

describe('labeled and unencrypted backups', () => {
  const source = uniqueName('e2e_label');
  afterAll(() => dropDatabase(source));

  it('keeps a pre-upgrade backup under upgrades/, readable by zstd -d | pg_restore when encryption is off', async () => {
    await seedDatabase(source, 100);
    const config = testConfig({
      DB_NAME: source,
      BACKUP_DIR: tempDir('backups'),
      S3_PREFIX: `${uniqueName('e2e')}/`,
      S3_STORAGE_CLASS_PRE_UPGRADE: 'STANDARD_IA',
      TEMPORAL_TASK_QUEUE: uniqueName('e2e'),
    });
    const result = await withWorker(config, async (client) =>
      waitForBackup(
        await startBackup(client, {
          database: source,
          label: 'pre-v2.0-upgrade',
          taskQueue: config.temporal.taskQueue,
        }),
      ),
    );
    expect(result).toMatchObject({ kind: 'pre-upgrade', label: 'pre-v2.0-upgrade', encrypted: false });
    expect(result.key).toMatch(
      new RegExp(`^upgrades/${source}-backup-pre-v2.0-upgrade-\\d{8}-\\d{6}\\.dump\\.zst$`),
    );
    const listing = await execa('sh', ['-c', 'zstd -d -c "$1" | pg_restore --list', 'sh', result.localPath]);
    expect(listing.stdout).toContain('TABLE DATA public users');
    expect(await s3StoreOf(config).stat(result.key)).toMatchObject({
      size: result.fileBytes,
      storageClass: 'STANDARD_IA',
    });
  });
});

describe('gzip: pg_dump compresses, as before', () => {
  const source = uniqueName('e2e_gzip');
  afterAll(() => dropDatabase(source));

  it("makes the guide's .dump.gpg with PG_DUMP_COMPRESSION, the older variable, read by gpg | pg_restore", async () => {
    await seedDatabase(source, 100);
    const keyring = await createKeyring();
    const config = testConfig({
      DB_NAME: source,
      BACKUP_DIR: tempDir('backups'),
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      PG_DUMP_COMPRESSION: '6',
      TEMPORAL_TASK_QUEUE: uniqueName('e2e'),
    });
    const result = await withWorker(config, async (client) =>
      waitForBackup(await startBackup(client, { database: source, taskQueue: config.temporal.taskQueue })),
    );
    expect(result.key).toMatch(new RegExp(`^${source}-backup-\\d{8}-\\d{6}\\.dump\\.gpg$`));
    const manifest = parseManifest(await readFile(join(config.backup.dir, result.manifestKey), 'utf8'), 'm');
    expect(manifest.compression).toEqual({ method: 'gzip', level: 6 });
    const { stdout } = await execa(
      'sh',
      ['-c', 'gpg --batch --quiet --decrypt "$1" | pg_restore --list', 'sh', result.localPath],
      { env: { GNUPGHOME: keyring.home } },
    );
    expect(stdout).toContain('TABLE DATA public users');
    expect(stdout).toMatch(/Compression: (6|gzip)/);
  });
});
