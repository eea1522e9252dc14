import { text } from 'node:stream/consumers';
import { MANIFEST_SUFFIX } from '../core/naming.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import type { BackupStore, StoredObject } from '../storage/types.js';

export interface CatalogEntry {
  manifestKey: string;
  manifest: Manifest;
  /** Where the archive is present with the manifest's size. */
  locations: string[];
}

/** One store's copy of a backup, as its manifest there describes it. */
export interface BackupCopy {
  manifestKey: string;
  manifest: Manifest;
  store: BackupStore;
  /** The archive in this store (size, storage class); undefined when it is missing. */
  archive?: StoredObject;
}

/**
 * Every copy that has a readable manifest, whatever state its archive is in: a re-read must see a
 * truncated or lost archive, which listCompleteBackups leaves out.
 */
export async function* backupCopies(stores: BackupStore[]): AsyncIterable<BackupCopy> {
  for (const store of stores) {
    for await (const object of store.list()) {
      if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
      const manifest = await readManifest(store, object.key);
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
  for await (const { manifestKey, manifest, store, archive } of backupCopies(stores)) {
    if (archive?.size !== manifest.file.bytes) continue;
    const entry = entries.get(manifestKey) ?? { manifestKey, manifest, locations: [] };
    entry.locations.push(store.location);
    entries.set(manifestKey, entry);
  }
  return newestFirst([...entries.values()]);
}

export function newestFirst<T extends { manifest: Manifest }>(entries: T[]): T[] {
  return entries.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt));
}

async function readManifest(store: BackupStore, key: string): Promise<Manifest | undefined> {
  try {
    return parseManifest(await text(await store.read(key)), `${store.location}${key}`);
  } catch {
    // A manifest we cannot read does not make a backup; listing goes on.
    return undefined;
  }
}
