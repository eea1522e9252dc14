import { text } from 'node:stream/consumers';
import { MANIFEST_SUFFIX } from '../core/naming.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import type { BackupStore } from '../storage/types.js';

export interface CatalogEntry {
  manifestKey: string;
  manifest: Manifest;
  /** Where the archive is present with the manifest's size. */
  locations: string[];
}

/**
 * The complete backups in some stores: a backup counts only with its manifest and an archive of the
 * manifest's size beside it. Newest first.
 */
export async function listCompleteBackups(stores: BackupStore[]): Promise<CatalogEntry[]> {
  const entries = new Map<string, CatalogEntry>();
  for (const store of stores) {
    for await (const object of store.list()) {
      if (!object.key.endsWith(MANIFEST_SUFFIX)) continue;
      const manifest = await readManifest(store, object.key);
      if (!manifest) continue;
      const archive = await store.stat(manifest.file.key);
      if (archive?.size !== manifest.file.bytes) continue;
      const entry = entries.get(object.key) ?? { manifestKey: object.key, manifest, locations: [] };
      entry.locations.push(store.location);
      entries.set(object.key, entry);
    }
  }
  return [...entries.values()].sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt));
}

async function readManifest(store: BackupStore, key: string): Promise<Manifest | undefined> {
  try {
    return parseManifest(await text(await store.read(key)), `${store.location}${key}`);
  } catch {
    // A manifest we cannot read does not make a backup; listing goes on.
    return undefined;
  }
}
