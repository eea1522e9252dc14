import { backupCopies, newestFirst } from '../storage/catalog.js';
import type { Config } from '../config/index.js';
import { isComplete } from '../core/reconcile.js';
import type { Stores } from '../storage/index.js';
import type { BackupStore } from '../storage/types.js';
import { sameKeys } from './recipients.js';

// Key rotation (`backupctl rekey`), its plan: which backups, in which stores, are still to be
// re-encrypted to the new recipients, and which are left alone and why. Read-only.

/** The temporary key of a backup's new file while the manifest still names the old one. */
export const REKEY_SUFFIX = '.rekey';

/** One backup to rotate, named so a person can find it. */
export interface RekeyItem {
  manifestKey: string;
  /** The backup's own data key (what it is called before and after). */
  key: string;
  createdAt: string;
  /** The stores where it is not done yet. */
  locations: ('local' | 'remote')[];
}

export interface RekeyPlan {
  backups: RekeyItem[];
  /** Backups the rotation leaves alone, and why. */
  skipped: { key: string; reason: string }[];
  /** Backups already encrypted to the new recipients, nothing left over. */
  done: number;
}

/** The backup's own name, also while its manifest names the temporary copy. */
export function ownKey(fileKey: string): string {
  return fileKey.endsWith(REKEY_SUFFIX) ? fileKey.slice(0, -REKEY_SUFFIX.length) : fileKey;
}

export const locationOf = (stores: Stores, store: BackupStore) =>
  store === stores.local ? 'local' : 'remote';

/** What a rotation to these recipients has left to do: every copy of this database's backups, newest first. */
export async function planRekey(config: Config, stores: Stores, recipients: string[]): Promise<RekeyPlan> {
  const all = new Map<string, RekeyItem>();
  const skipped = new Map<string, string>();
  const copies = [];
  for await (const copy of backupCopies(remoteFirst(stores))) {
    if (copy.manifest.database === config.database.name) copies.push(copy);
  }
  for (const { manifestKey, manifest, store, archive } of newestFirst(copies)) {
    const key = ownKey(manifest.file.key);
    if (manifest.encryption.method !== 'openpgp') {
      skipped.set(key, 'not encrypted: a rotation re-encrypts, it does not encrypt; take a new backup');
      continue;
    }
    const item = all.get(manifestKey) ?? { manifestKey, key, createdAt: manifest.createdAt, locations: [] };
    all.set(manifestKey, item);
    const finished =
      sameKeys(manifest.encryption.recipients, recipients) &&
      manifest.file.key === key &&
      !(await store.stat(key + REKEY_SUFFIX));
    if (finished) continue;
    // An incomplete copy (its archive lost or cut) cannot be re-encrypted: the re-read reports it.
    if (!isComplete({ manifest, archive })) {
      skipped.set(`${key} (${locationOf(stores, store)})`, 'incomplete copy: run backupctl reread');
      continue;
    }
    item.locations.push(locationOf(stores, store));
  }
  const items = [...all.values()];
  return {
    backups: items.filter((i) => i.locations.length > 0),
    skipped: [...skipped].map(([key, reason]) => ({ key, reason })),
    done: items.filter((i) => i.locations.length === 0 && !skipped.has(i.key)).length,
  };
}

export function remoteFirst(stores: Stores): BackupStore[] {
  return stores.remote ? [stores.remote, stores.local] : [stores.local];
}
