import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CopyListings, collectCopies } from '../../../src/health/reconcile.js';
import { readCatalogFacts, SharedListings } from '../../../src/metrics/catalog.js';
import { listCompleteBackups } from '../../../src/storage/catalog.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import type { BackupStore } from '../../../src/storage/types.js';
import { seedBackup } from '../../helpers/backups.js';
import { tempDir } from '../../helpers/files.js';
import { testConfig } from '../../helpers/services.js';

// Issue #20: fifty databases in one bucket. A listing reads each manifest and its signature, a few at
// a time, and takes archives and signatures from the listing itself; a metrics scrape of every
// database, and `health` of every database, list a shared bucket once.

/** A store that counts the calls it gets, and how many reads run at once (each takes a moment). */
function counting(inner: MemoryStore) {
  const calls = { list: 0, stat: 0, read: 0, readsAtOnce: 0 };
  let reading = 0;
  const store: BackupStore = Object.create(inner) as BackupStore;
  Object.assign(store, {
    list: (prefix?: string) => (calls.list++, inner.list(prefix)),
    stat: (key: string) => (calls.stat++, inner.stat(key)),
    read: async (key: string) => {
      calls.read++;
      calls.readsAtOnce = Math.max(calls.readsAtOnce, ++reading);
      await sleep(5);
      reading--;
      return inner.read(key);
    },
  });
  return { store, calls };
}

async function seeded(databases: string[], backupsEach: number) {
  const dir = tempDir('shared-listings');
  const inner = new MemoryStore('bucket');
  const configs = databases.map((name) => testConfig({ DB_NAME: name, BACKUP_DIR: dir }));
  for (const config of configs)
    for (let day = 1; day <= backupsEach; day++)
      await seedBackup(config, { local: inner }, new Date(`2026-12-0${day}T02:00:00Z`), 'local');
  return { inner, configs };
}

describe('a listing of many backups', () => {
  it('reads each manifest and its signature, a few at a time, and asks for nothing the listing said', async () => {
    const { inner } = await seeded(['app_a', 'app_b', 'app_c', 'app_d', 'app_e'], 4);
    const { store, calls } = counting(inner);
    const entries = await listCompleteBackups([store]);
    expect(entries).toHaveLength(20);
    expect(entries.map((e) => e.manifest.createdAt)).toEqual(
      [...entries.map((e) => e.manifest.createdAt)].sort().reverse(),
    );
    expect(calls).toMatchObject({ list: 1, stat: 0, read: 40 });
    expect(calls.readsAtOnce).toBeGreaterThan(1);
    expect(calls.readsAtOnce).toBeLessThanOrEqual(8);
  });

  it('is shared by every database whose facts are asked for at once', async () => {
    const databases = Array.from({ length: 50 }, (_, i) => `db_${i}`);
    const { inner, configs } = await seeded(databases, 1);
    const { store, calls } = counting(inner);
    const listings = new SharedListings();
    const facts = await Promise.all(
      configs.map((config) => readCatalogFacts(config, { local: store }, listings)),
    );
    expect(calls.list).toBe(1);
    expect(facts.map((f) => f.count)).toEqual(databases.map(() => 1));
    // Done, the next read lists again: a listing is shared while it runs, never kept.
    await readCatalogFacts(configs[0]!, { local: store }, listings);
    expect(calls.list).toBe(2);
  });

  it('is listed once for the health of every database kept there', async () => {
    const databases = ['app_a', 'app_b', 'app_c'];
    const { inner, configs } = await seeded(databases, 2);
    const { store, calls } = counting(inner);
    const listings = new CopyListings();
    const copies = [];
    for (const config of configs) copies.push(await collectCopies(config, { local: store }, listings));
    expect(calls.list).toBe(1);
    expect(copies.map((c) => c.map((b) => b.local!.manifest.database))).toEqual(databases.map((d) => [d, d]));
    expect(copies.flat().every((c) => c.local!.untrusted === undefined)).toBe(true);
  });
});
