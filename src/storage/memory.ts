import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BackupError } from '../core/errors.js';
import type { BackupStore, PutFileOptions, PutResult, StoredObject } from './types.js';

interface Entry {
  bytes: Buffer;
  lastModified: Date;
  storageClass?: string;
}

/**
 * A store held in memory, for unit tests of the code above the stores (retention, reconcile, rekey)
 * with no server and no directory. Every write is whole at once, so nothing is ever left unfinished;
 * it has no archive tier. It passes the same contract as the real drivers
 * (test/integration/storage-contract.test.ts).
 */
export class MemoryStore implements BackupStore {
  private readonly objects = new Map<string, Entry>();

  /** name only tells two stores apart in messages and catalogs: memory://name/. */
  constructor(private readonly name = 'store') {}

  get location(): string {
    return `memory://${this.name}/`;
  }

  describe(key: string): string {
    return this.location + key;
  }

  // The methods are async although nothing waits, so that they fail as a rejected promise, as the
  // other drivers do.
  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort();
    for (const key of keys) {
      const object = await this.stat(key);
      if (object) yield object;
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const entry = this.objects.get(key);
    if (!entry) return undefined;
    const { bytes, lastModified, storageClass } = entry;
    return { key, size: bytes.length, lastModified, storageClass, archived: false };
  }

  async read(key: string, options: { start?: number } = {}): Promise<Readable> {
    const entry = this.objects.get(key);
    if (!entry) {
      throw new BackupError('DownloadFailed', `read ${this.describe(key)}: no such object`, {
        retryable: false,
      });
    }
    return Readable.from([entry.bytes.subarray(options.start ?? 0)]);
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutResult> {
    const bytes = await readFile(localPath);
    this.objects.set(key, { bytes, lastModified: new Date(), storageClass: options.storageClass });
    return { key, size: bytes.length, bytesSent: bytes.length, resumedParts: 0 };
  }

  async putBytes(key: string, body: string | Uint8Array): Promise<void> {
    this.objects.set(key, { bytes: Buffer.from(body), lastModified: new Date() });
  }

  async remove(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async abortIncomplete(_key: string): Promise<number> {
    return 0;
  }

  async abortStale(_startedBefore: Date): Promise<string[]> {
    return [];
  }

  /** For tests: dates an object, as a run that failed long ago would have left it. */
  age(key: string, lastModified: Date): void {
    const entry = this.objects.get(key);
    if (!entry) throw new Error(`${this.describe(key)}: no such object to age`);
    entry.lastModified = lastModified;
  }
}
