import { describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/storage/catalog.js';
import { FsStore } from '../../../src/storage/fs.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { tempDir } from '../../helpers/files.js';

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
