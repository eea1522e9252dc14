import { describe, expect, it } from 'vitest';
import { cleanupIncomplete, deleteBackup } from '../../../src/retention/sweep.js';
import { FsStore } from '../../../src/storage/fs.js';
import { tempDir } from '../../helpers/files.js';

// A deletion that fails half-way must leave data that a later cleanup finds, never a manifest that
// points at nothing. Two directories stand in for BACKUP_DIR and the bucket.

class FailingRemovals extends FsStore {
  failOn?: string;
  override async remove(key: string): Promise<void> {
    if (key === this.failOn) throw new Error(`cannot remove ${key}`);
    await super.remove(key);
  }
}

describe('deletion order', () => {
  it('removes manifests everywhere before any data, so a failure leaves only findable data', async () => {
    const local = new FsStore(tempDir('local'));
    const remote = new FailingRemovals(tempDir('remote'));
    for (const store of [local, remote]) {
      await store.putBytes('app-backup-20240101-020000.dump.gpg', 'data');
      await store.putBytes('app-backup-20240101-020000.manifest.json', '{}');
    }
    remote.failOn = 'app-backup-20240101-020000.dump.gpg';
    await expect(
      deleteBackup(
        { local, remote },
        'app-backup-20240101-020000.manifest.json',
        'app-backup-20240101-020000.dump.gpg',
      ),
    ).rejects.toThrow('cannot remove');
    for (const store of [local, remote])
      expect(await store.stat('app-backup-20240101-020000.manifest.json')).toBeUndefined();
    expect(await remote.stat('app-backup-20240101-020000.dump.gpg')).toBeDefined();

    remote.failOn = undefined;
    const report = await cleanupIncomplete({ local, remote }, 'app-backup', new Date(Date.now() + 60_000));
    expect(report.orphanData).toEqual([`${remote.location}/app-backup-20240101-020000.dump.gpg`]);
    expect(await remote.stat('app-backup-20240101-020000.dump.gpg')).toBeUndefined();
  });
});
