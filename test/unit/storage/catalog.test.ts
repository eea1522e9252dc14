import { describe, expect, it } from 'vitest';
import { judgeCopy, trustPolicyOf } from '../../../src/crypto/signing.js';
import { listTrustedBackups, readManifest } from '../../../src/storage/catalog.js';
import { FsStore } from '../../../src/storage/fs.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { seedBackup } from '../../helpers/backups.js';
import { tempDir } from '../../helpers/files.js';
import { testConfig } from '../../helpers/services.js';

// Messages name a stored key the one way its store describes it: a directory's path did not end in
// '/', and `${location}${key}` once glued the two together (/var/backupsapp-backup-….manifest.json).

describe('the catalog says where a manifest is', () => {
  it('with the / between a directory and the key', async () => {
    const dir = tempDir('catalog');
    await expect(readManifest(new FsStore(dir), 'app-backup-20240101-020000.manifest.json')).rejects.toThrow(
      `${dir}/app-backup-20240101-020000.manifest.json: no such manifest; the backup is missing or incomplete`,
    );
  });

  it('in the store it read, for a manifest that is not one', async () => {
    const store = new MemoryStore('remote');
    await store.putBytes('app-backup-20240101-020000.manifest.json', 'not json');
    await expect(readManifest(store, 'app-backup-20240101-020000.manifest.json')).rejects.toThrow(
      'memory://remote/app-backup-20240101-020000.manifest.json: manifest is not valid JSON',
    );
  });
});

describe('listTrustedBackups', () => {
  it('lists the trusted copies, newest first, and names each refused one with its reason', async () => {
    const config = testConfig({ DB_NAME: 'app', BACKUP_DIR: tempDir('catalog-trust') });
    const local = new MemoryStore('local');
    const remote = new MemoryStore('remote');
    const stores = { local, remote };
    await seedBackup(config, stores, new Date('2026-12-06T02:00:00Z'), 'both');
    // A planted copy in the bucket alone, newer and unsigned.
    const planted = await seedBackup(
      { ...config, signing: { trustedSigners: [] } },
      { local: remote, remote: undefined },
      new Date('2026-12-07T02:00:00Z'),
      'local',
    );
    const policy = await trustPolicyOf(config);
    const { entries, refused } = await listTrustedBackups([local, remote], (copy) => judgeCopy(copy, policy));
    expect(entries.map((e) => [e.manifest.createdAt, e.locations, e.signer])).toEqual([
      ['2026-12-06T02:00:00.000Z', ['memory://local/', 'memory://remote/'], policy.trusted[0]],
    ]);
    expect(refused).toEqual([
      {
        manifestKey: planted.replace(/\.dump$/, '.manifest.json'),
        database: 'app',
        createdAt: '2026-12-07T02:00:00.000Z',
        where: `memory://remote/${planted}`,
        reason: 'unsigned',
      },
    ]);
  });
});
