import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { BackupError } from '../core/errors.js';
import type { LocalStore, PutFileOptions, PutResult, StoredObject } from './types.js';

const PARTIAL_SUFFIX = '.partial';

/**
 * A directory as a store: BACKUP_DIR for the local copy of the 3-2-1 rule. Files are 0600 and folders
 * 0700; writes go to a .partial file renamed into place, so a crash never leaves a half file under a
 * real name. Names starting with a dot (work files) are not listed.
 */
export class FsStore implements LocalStore {
  constructor(readonly root: string) {}

  get location(): string {
    return this.root;
  }

  describe(key: string): string {
    return join(this.root, key);
  }

  pathOf(key: string): string {
    const path = join(this.root, key);
    if (relative(this.root, path).startsWith('..') || key.includes('\0')) {
      throw new BackupError('Configuration', `key escapes the backup directory: ${key}`);
    }
    return path;
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    for (const key of await this.walk('')) {
      if (key.startsWith(prefix)) {
        const info = await this.stat(key);
        if (info) yield info;
      }
    }
  }

  private async walk(folder: string): Promise<string[]> {
    const entries = await readdir(join(this.root, folder), { withFileTypes: true }).catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw error;
      },
    );
    const keys: string[] = [];
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.') || entry.name.endsWith(PARTIAL_SUFFIX)) continue;
      const key = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.isDirectory()) keys.push(...(await this.walk(key)));
      else if (entry.isFile()) keys.push(key);
    }
    return keys;
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile()
        ? { key: key.split(sep).join('/'), size: info.size, lastModified: info.mtime, archived: false }
        : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async read(key: string, options: { start?: number } = {}): Promise<Readable> {
    const path = this.pathOf(key);
    if (!(await this.stat(key))) {
      throw new BackupError('DownloadFailed', `read ${path}: no such object`, { retryable: false });
    }
    return createReadStream(path, { start: options.start });
  }

  async putFile(key: string, localPath: string, _options: PutFileOptions = {}): Promise<PutResult> {
    const target = this.pathOf(key);
    await this.ensureFolder(dirname(target));
    const partial = target + PARTIAL_SUFFIX;
    await copyFile(localPath, partial);
    await chmod(partial, 0o600);
    await rename(partial, target);
    const { size } = await stat(target);
    return { key, size, bytesSent: size, resumedParts: 0 };
  }

  async putBytes(key: string, body: string | Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    await this.ensureFolder(dirname(target));
    const partial = target + PARTIAL_SUFFIX;
    await writeFile(partial, body, { mode: 0o600 });
    await rename(partial, target);
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async abortIncomplete(key: string): Promise<number> {
    const partial = this.pathOf(key) + PARTIAL_SUFFIX;
    const existed = await stat(partial).then(
      () => true,
      () => false,
    );
    await rm(partial, { force: true });
    return existed ? 1 : 0;
  }

  async abortStale(startedBefore: Date): Promise<string[]> {
    const stale: string[] = [];
    for (const path of await this.unfinished('')) {
      const info = await stat(path).catch(() => undefined);
      if (info && info.mtime < startedBefore) {
        await rm(path, { recursive: true, force: true });
        stale.push(path);
      }
    }
    return stale;
  }

  /** .partial files anywhere, and whatever a run left in .work/. */
  private async unfinished(folder: string): Promise<string[]> {
    const entries = await readdir(join(this.root, folder), { withFileTypes: true }).catch(() => []);
    const found: string[] = [];
    for (const entry of entries) {
      const path = join(this.root, folder, entry.name);
      if (folder === '' && entry.name === '.work' && entry.isDirectory()) {
        found.push(...(await readdir(path)).map((name) => join(path, name)));
      } else if (entry.isDirectory() && !entry.name.startsWith('.')) {
        found.push(...(await this.unfinished(folder ? `${folder}/${entry.name}` : entry.name)));
      } else if (entry.name.endsWith(PARTIAL_SUFFIX)) {
        found.push(path);
      }
    }
    return found;
  }

  /** Creates a folder (and the root) with mode 0700, and tightens it if it already exists. */
  async ensureFolder(path: string): Promise<void> {
    await mkdir(path, { recursive: true, mode: 0o700 });
    for (let folder = path; folder.startsWith(this.root); folder = dirname(folder)) {
      await chmod(folder, 0o700);
      if (folder === this.root) break;
    }
  }
}
