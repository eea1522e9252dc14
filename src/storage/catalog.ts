import { text } from 'node:stream/consumers';
import { BackupError } from '../core/errors.js';
import { MANIFEST_SUFFIX } from '../core/naming.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { isComplete, type StoreCopy } from '../core/reconcile.js';
import type { BackupStore, StoredObject } from './types.js';

export interface CatalogEntry {
  manifestKey: string;
  manifest: Manifest;
  /** Where the archive is present with the manifest's size. */
  locations: string[];
}

/** A store's copy of a backup, with the archive as the store reports it (size, storage class). */
export type StoredCopy = StoreCopy & { archive?: StoredObject };

/** One store's copy of a backup, as its manifest there describes it. */
export interface BackupCopy extends StoredCopy {
  manifestKey: string;
  store: BackupStore;
}

/**
 * Every copy that has a readable manifest, whatever state its archive is in: a re-read must see a
 * truncated or lost archive, which listCompleteBackups leaves out.
 */
export async function* backupCopies(stores: BackupStore[]): AsyncIterable<BackupCopy> {
  for (const store of stores) {
    for await (const object of store.list()) {
      if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
      const manifest = await readManifestIfAny(store, object.key);
      if (!manifest) continue;
      const archive = await store.stat(manifest.file.key);
      yield { manifestKey: object.key, manifest, store, archive };
    }
  }
}

/**
 * The complete backups in some stores: a backup counts only with its manifest and an archive of the
 * manifest's size beside it. Newest first.
 */
export async function listCompleteBackups(stores: BackupStore[]): Promise<CatalogEntry[]> {
  const entries = new Map<string, CatalogEntry>();
  for await (const copy of backupCopies(stores)) {
    if (!isComplete(copy)) continue;
    const entry = entries.get(copy.manifestKey) ?? {
      manifestKey: copy.manifestKey,
      manifest: copy.manifest,
      locations: [],
    };
    entry.locations.push(copy.store.location);
    entries.set(copy.manifestKey, entry);
  }
  return newestFirst([...entries.values()]);
}

/** Every readable manifest in one store, by key, with the archive it names (undefined when missing). */
export async function listCopies(store: BackupStore): Promise<Map<string, StoredCopy>> {
  const copies = new Map<string, StoredCopy>();
  for await (const { manifestKey, manifest, archive } of backupCopies([store])) {
    copies.set(manifestKey, { manifest, archive });
  }
  return copies;
}

export function newestFirst<T extends { manifest: Manifest }>(entries: T[]): T[] {
  return entries.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt));
}

/** A store's manifest of a backup, or a DownloadFailed error saying it is missing or unreadable. */
export async function readManifest(store: BackupStore, key: string): Promise<Manifest> {
  if (!(await store.stat(key))) {
    throw new BackupError(
      'DownloadFailed',
      `${store.describe(key)}: no such manifest; the backup is missing or incomplete`,
      {
        retryable: false,
        hint: 'list the backups with backupctl list',
      },
    );
  }
  return parseManifest(await text(await store.read(key)), store.describe(key));
}

/** A manifest we cannot read does not make a backup: listings go on without it. */
async function readManifestIfAny(store: BackupStore, key: string): Promise<Manifest | undefined> {
  try {
    return parseManifest(await text(await store.read(key)), store.describe(key));
  } catch {
    return undefined;
  }
}
