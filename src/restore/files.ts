import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveFileName } from '../core/naming.js';
import { fileSafe, restoreLogName } from '../core/restore/log.js';

// A restore's files on the worker: its work folder (the download, the plaintext, the state a retry
// reads back) and the log it leaves in BACKUP_DIR/logs.

/** BACKUP_DIR/.restore/<workflow id>: the download and the decrypted archive, removed at the end. */
export function restoreWorkDir(backupDir: string, workflowId: string): string {
  return join(backupDir, '.restore', fileSafe(workflowId));
}

/** A restore's large files, in its work folder: the download (kept for a resumed fetch) and the plaintext. */
export function workFiles(workDir: string, fileName: string): { download: string; archive: string } {
  return {
    download: join(workDir, `${fileName}.download`),
    archive: join(workDir, archiveFileName(fileName)),
  };
}

export async function makeWorkDir(workDir: string): Promise<void> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
}

/**
 * Closes the target (closeTarget returns its connection limit) and returns the limit to put back.
 * Kept on disk: a retry must put back the limit from before the first attempt, not our 0.
 */
export async function closeKeepingLimit(
  workDir: string,
  closeTarget: () => Promise<number>,
): Promise<number> {
  const earlier = await savedConnectionLimit(workDir);
  const limit = await closeTarget();
  const original = earlier ?? limit;
  await makeWorkDir(workDir);
  await writeFile(savedLimitPath(workDir), JSON.stringify(original), { mode: 0o600 });
  return original;
}

/** The target's connection limit before the restore first closed it; undefined if it never did. */
export async function savedConnectionLimit(workDir: string): Promise<number | undefined> {
  return readFile(savedLimitPath(workDir), 'utf8').then(
    (text) => Number(JSON.parse(text)),
    () => undefined,
  );
}

const savedLimitPath = (workDir: string) => join(workDir, 'connection-limit.json');

/** Writes a --use-list into the work folder; returns its path. */
export async function writeUseList(workDir: string, list: string): Promise<string> {
  const path = join(workDir, 'restore.list');
  await makeWorkDir(workDir);
  await writeFile(path, list, { mode: 0o600 });
  return path;
}

/** Removes the work folder (the plaintext with it) and writes the restore's log; returns its path. */
export async function finishFiles(
  backupDir: string,
  workDir: string,
  log: { stamp: string; workflowId: string; text: string },
): Promise<string> {
  await rm(workDir, { recursive: true, force: true });
  const logs = join(backupDir, 'logs');
  await mkdir(logs, { recursive: true, mode: 0o700 });
  const logPath = join(logs, restoreLogName(log.stamp, log.workflowId));
  await writeFile(logPath, log.text, { mode: 0o600 });
  return logPath;
}

/** Removes a file of the work folder, if it is there. */
export async function removePlaintext(path: string): Promise<void> {
  await rm(path, { force: true });
}
