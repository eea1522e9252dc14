import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  closeKeepingLimit,
  finishFiles,
  restoreWorkDir,
  workFiles,
  writeUseList,
} from '../../../src/restore/files.js';
import { tempDir } from '../../helpers/files.js';

describe('a restore work folder', () => {
  it('is named by the workflow id, file-safe', () => {
    expect(restoreWorkDir('/b', 'restore/app 1')).toBe('/b/.restore/restore_app_1');
  });

  it('holds the download and the plaintext archive, named after the stored file', () => {
    expect(workFiles('/w', 'app-backup-1.dump.gpg')).toEqual({
      download: '/w/app-backup-1.dump.gpg.download',
      archive: '/w/app-backup-1.dump',
    });
    expect(workFiles('/w', 'app-backup-1.dump').archive).toBe('/w/app-backup-1.dump');
  });
});

describe('closeKeepingLimit', () => {
  it('puts back, after a retry, the limit from before the first attempt closed the target', async () => {
    const workDir = join(tempDir('restore'), 'work');
    expect(await closeKeepingLimit(workDir, async () => 25)).toBe(25);
    // The first attempt left the target at CONNECTION LIMIT 0: the retry reads that, not the original.
    expect(await closeKeepingLimit(workDir, async () => 0)).toBe(25);
  });
});

describe('writeUseList and finishFiles', () => {
  it('write the list beside the work, then the log, and remove the work folder', async () => {
    const backupDir = tempDir('restore');
    const workDir = restoreWorkDir(backupDir, 'restore-1');
    const listPath = await writeUseList(workDir, '3350; 0 16386 TABLE DATA public users postgres\n');
    expect(listPath).toBe(join(workDir, 'restore.list'));
    expect(statSync(listPath).mode & 0o777).toBe(0o600);

    const logPath = await finishFiles(backupDir, workDir, {
      stamp: '20240316-080000',
      workflowId: 'restore-1',
      text: 'done\n',
    });
    expect(logPath).toBe(join(backupDir, 'logs', 'restore-20240316-080000-restore-1.log'));
    expect(readFileSync(logPath, 'utf8')).toBe('done\n');
    expect(existsSync(workDir)).toBe(false);
  });
});
