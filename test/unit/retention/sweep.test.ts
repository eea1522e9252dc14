import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { MANIFEST_FORMAT_VERSION, serializeManifest, type Manifest } from '../../../src/core/manifest.js';
import { signatureKeyFor } from '../../../src/core/trust.js';
import { loadSigningKey, signedManifest } from '../../../src/crypto/signing.js';
import { cleanupIncomplete, deleteBackup, planRetention } from '../../../src/retention/sweep.js';
import { MemoryStore } from '../../../src/storage/memory.js';

// The retention sweep's I/O against two in-memory stores standing in for BACKUP_DIR and the bucket.

const DATA = 'encrypted dump';
const longAgo = new Date('2020-01-01T00:00:00Z');
const now = new Date('2024-06-30T12:00:00Z');

function manifestOf(stem: string, createdAt: string): Manifest {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    database: 'app',
    serverVersion: '16',
    pgDumpVersion: '16',
    kind: 'daily',
    createdAt,
    completedAt: createdAt,
    compression: 6,
    archive: { bytes: 10, sha256: 'a'.repeat(64), tocEntries: 3 },
    file: { name: `${stem}.dump.gpg`, key: `${stem}.dump.gpg`, bytes: DATA.length, sha256: 'f'.repeat(64) },
    encryption: { method: 'openpgp', recipients: ['ABCD'] },
    tables: [],
  };
}

/** A complete backup (data, then its manifest, signed when given a key) in each store, dated long ago. */
async function storeBackup(
  stores: MemoryStore[],
  stem: string,
  createdAt: string,
  signWith?: Parameters<typeof signedManifest>[1],
): Promise<void> {
  const { text, signature } = signWith
    ? await signedManifest(manifestOf(stem, createdAt), signWith)
    : { text: serializeManifest(manifestOf(stem, createdAt)), signature: undefined };
  for (const store of stores) {
    await store.putBytes(`${stem}.dump.gpg`, DATA);
    await store.putBytes(`${stem}.manifest.json`, text);
    if (signature) await store.putBytes(signatureKeyFor(`${stem}.manifest.json`), signature);
    store.age(`${stem}.dump.gpg`, longAgo);
    store.age(`${stem}.manifest.json`, longAgo);
  }
}

async function keysOf(store: MemoryStore): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list()) keys.push(object.key);
  return keys;
}

describe('the retention sweep on in-memory stores', () => {
  it('plans to delete the backups past retention, and deletes one everywhere, twice without error', async () => {
    const local = new MemoryStore('local');
    const remote = new MemoryStore('remote');
    const config = loadConfig({
      env: { DB_NAME: 'app', DAILY_RETENTION_DAYS: '7', RETENTION_KEEP_NEWEST: '1' },
    });
    await storeBackup([local, remote], 'app-backup-20240601-020000', '2024-06-01T02:00:00Z');
    await storeBackup([local, remote], 'app-backup-20240629-020000', '2024-06-29T02:00:00Z');

    const plan = await planRetention(config, { local, remote }, now);
    expect(plan.map((p) => [p.id, p.action, p.locations])).toEqual([
      ['app-backup-20240629-020000.manifest.json', 'keep', ['memory://local/', 'memory://remote/']],
      ['app-backup-20240601-020000.manifest.json', 'delete', ['memory://local/', 'memory://remote/']],
    ]);

    const old = plan[1]!;
    await deleteBackup({ local, remote }, old.id, old.dataKey);
    await deleteBackup({ local, remote }, old.id, old.dataKey);
    for (const store of [local, remote]) {
      expect(await keysOf(store)).toEqual([
        'app-backup-20240629-020000.dump.gpg',
        'app-backup-20240629-020000.manifest.json',
      ]);
    }
  });

  it("neither deletes nor keeps by a planted manifest that names another backup's data", async () => {
    const local = new MemoryStore('local');
    const remote = new MemoryStore('remote');
    const config = loadConfig({
      env: { DB_NAME: 'app', DAILY_RETENTION_DAYS: '7', RETENTION_KEEP_NEWEST: '1' },
    });
    const victim = 'app-backup-20240629-020000';
    await storeBackup([local, remote], victim, '2024-06-29T02:00:00Z');
    // Long expired, in both stores, pointing at the newest backup's data.
    const forged = { ...manifestOf('app-backup-20200101-000000', '2020-01-01T00:00:00Z') };
    forged.file = { ...forged.file, key: `${victim}.dump.gpg`, name: `${victim}.dump.gpg` };
    for (const store of [local, remote]) {
      await store.putBytes('app-backup-20200101-000000.manifest.json', serializeManifest(forged));
      store.age('app-backup-20200101-000000.manifest.json', longAgo);
    }

    const plan = await planRetention(config, { local, remote }, now);
    expect(plan.map((p) => [p.id, p.action])).toEqual([[`${victim}.manifest.json`, 'keep']]);
    // The cleanup takes it for what it is: a manifest without data of its own.
    const report = await cleanupIncomplete({ local, remote }, 'app-backup', new Date('2024-06-30T00:00:00Z'));
    expect(report.danglingManifests).toHaveLength(2);
    for (const store of [local, remote])
      expect(await keysOf(store)).toEqual([`${victim}.dump.gpg`, `${victim}.manifest.json`]);
  });

  it('keeps the newest signed backup when newer unsigned ones were planted beside it', async () => {
    const local = new MemoryStore('local');
    const config = loadConfig({
      env: {
        DB_NAME: 'app',
        DAILY_RETENTION_DAYS: '1',
        RETENTION_KEEP_NEWEST: '1',
        BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE!,
      },
    });
    const key = await loadSigningKey(config);
    await storeBackup([local], 'app-backup-20240610-020000', '2024-06-10T02:00:00Z', key);
    await storeBackup([local], 'app-backup-20240620-020000', '2024-06-20T02:00:00Z');

    const plan = await planRetention(config, { local }, now);
    expect(plan.map((p) => [p.id, p.action, p.reason])).toEqual([
      ['app-backup-20240620-020000.manifest.json', 'delete', 'expired'],
      ['app-backup-20240610-020000.manifest.json', 'keep', 'newest'],
    ]);
  });

  it('keeps a manifest whose data is present under a name this version cannot derive (a rollback from a newer one)', async () => {
    const local = new MemoryStore('local');
    const stem = 'app-backup-20240604-020000';
    // As the versions before zstd saw a .dump.zst.gpg backup: data with a suffix they did not know.
    const manifest = { ...manifestOf(stem, '2024-06-04T02:00:00Z') };
    manifest.file = { ...manifest.file, key: `${stem}.dump.lz4.gpg`, name: `${stem}.dump.lz4.gpg` };
    await local.putBytes(`${stem}.dump.lz4.gpg`, DATA);
    await local.putBytes(`${stem}.manifest.json`, serializeManifest(manifest));
    local.age(`${stem}.dump.lz4.gpg`, longAgo);
    local.age(`${stem}.manifest.json`, longAgo);

    const report = await cleanupIncomplete({ local }, 'app-backup', new Date('2024-06-30T00:00:00Z'));

    expect(report).toEqual({ abortedUploads: [], orphanData: [], danglingManifests: [] });
    expect(await keysOf(local)).toEqual([`${stem}.dump.lz4.gpg`, `${stem}.manifest.json`]);
    // Once that data is gone, the manifest points at nothing and goes.
    await local.remove(`${stem}.dump.lz4.gpg`);
    const after = await cleanupIncomplete({ local }, 'app-backup', new Date('2024-06-30T00:00:00Z'));
    expect(after.danglingManifests).toEqual([`memory://local/${stem}.manifest.json`]);
  });

  it('removes old data without a manifest and manifests without data, names each where it was, and leaves the rest', async () => {
    const local = new MemoryStore('local');
    const remote = new MemoryStore('remote');
    await storeBackup([local, remote], 'app-backup-20240601-020000', '2024-06-01T02:00:00Z');
    // A run that died before its manifest, long ago; one that is still running; another database's.
    await remote.putBytes('app-backup-20240602-020000.dump.gpg', DATA);
    remote.age('app-backup-20240602-020000.dump.gpg', longAgo);
    await remote.putBytes('app-backup-20240630-020000.dump.gpg', DATA);
    await remote.putBytes('shop-backup-20240602-020000.dump.gpg', DATA);
    remote.age('shop-backup-20240602-020000.dump.gpg', longAgo);
    // A manifest whose data a half-done deletion already removed.
    await local.putBytes('app-backup-20240603-020000.manifest.json', '{}');
    local.age('app-backup-20240603-020000.manifest.json', longAgo);

    const report = await cleanupIncomplete({ local, remote }, 'app-backup', new Date('2024-06-30T00:00:00Z'));

    expect(report).toEqual({
      abortedUploads: [],
      orphanData: ['memory://remote/app-backup-20240602-020000.dump.gpg'],
      danglingManifests: ['memory://local/app-backup-20240603-020000.manifest.json'],
    });
    expect(await keysOf(local)).toEqual([
      'app-backup-20240601-020000.dump.gpg',
      'app-backup-20240601-020000.manifest.json',
    ]);
    expect(await keysOf(remote)).toEqual([
      'app-backup-20240601-020000.dump.gpg',
      'app-backup-20240601-020000.manifest.json',
      'app-backup-20240630-020000.dump.gpg',
      'shop-backup-20240602-020000.dump.gpg',
    ]);
  });
});
