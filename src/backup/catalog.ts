import { text } from 'node:stream/consumers';
import { MANIFEST_SUFFIX } from '../core/naming.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { isComplete, type StoreCopy } from '../core/reconcile.js';
import type { BackupStore, StoredObject } from '../storage/types.js';

export interface CatalogEntry {
  manifestKey: string;
  manifest: Manifest;
  /** Where the archive is present with the manifest's size. */
  locations: string[];
}

/** A store's copy of a backup, with the archive as the store reports it (size, storage class). */
export type StoredCopy = StoreCopy & { archive?: StoredObject };

/**
 * The complete backups in some stores: a backup counts only with its manifest and an archive of the
 * manifest's size beside it. Newest first.
 */
export async function listCompleteBackups(stores: BackupStore[]): Promise<CatalogEntry[]> {
  const entries = new Map<string, CatalogEntry>();
  for (const store of stores) {
    for (const [manifestKey, copy] of await listCopies(store)) {
      if (!isComplete(copy)) continue;
      const entry = entries.get(manifestKey) ?? { manifestKey, manifest: copy.manifest, locations: [] };
      entry.locations.push(store.location);
      entries.set(manifestKey, entry);
    }
  }
  return [...entries.values()].sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt));
}

/** Every readable manifest in a store, by key, with the archive it names (undefined when missing). */
export async function listCopies(store: BackupStore): Promise<Map<string, StoredCopy>> {
  const copies = new Map<string, StoredCopy>();
  for await (const object of store.list()) {
    if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
    const manifest = await readManifest(store, object.key);
    if (manifest) copies.set(object.key, { manifest, archive: await store.stat(manifest.file.key) });
  }
  return copies;
}

async function readManifest(store: BackupStore, key: string): Promise<Manifest | undefined> {
  try {
    return parseManifest(await text(await store.read(key)), `${store.location}${key}`);
  } catch {
    // A manifest we cannot read does not make a backup; listing goes on.
    return undefined;
  }
}
