import { text } from 'node:stream/consumers';
import { judgeCopy, trustPolicyOf } from '../crypto/signing.js';
import { backupCopies, newestFirst, type CatalogEntry } from '../storage/catalog.js';
import { isComplete } from '../core/reconcile.js';
import type { Config } from '../config/index.js';
import { isDataKeyOf, MANIFEST_SUFFIX, manifestKeyFor } from '../core/naming.js';
import { SIGNATURE_SUFFIX, signatureKeyFor } from '../core/trust.js';
import { decideRetention, type RetentionDecision } from '../core/retention.js';
import type { BackupKind } from '../core/classify.js';
import { storeList, type Stores } from '../storage/index.js';
import type { BackupStore } from '../storage/types.js';

export interface PlannedBackup extends RetentionDecision {
  /** The manifest's key, the same in every store. */
  id: string;
  dataKey: string;
  kind: BackupKind;
  createdAt: string;
  locations: string[];
}

/**
 * The retention plan as of a date: every complete backup of this database, with keep or delete and
 * why. One pass over the stores; each complete copy of this database is judged (signed by a trusted
 * key), since only trusted backups count among the newest.
 */
export async function planRetention(config: Config, stores: Stores, asOf: Date): Promise<PlannedBackup[]> {
  const policy = await trustPolicyOf(config);
  const found = new Map<string, CatalogEntry & { trusted: boolean }>();
  for await (const copy of backupCopies(storeList(stores))) {
    if (!isComplete(copy) || copy.manifest.database !== config.database.name) continue;
    const { manifestKey, manifest } = copy;
    // A forged manifest could name another backup's data: deleting by it would delete that one.
    if (!isDataKeyOf(manifestKey, manifest.file.key)) continue;
    const entry = found.get(manifestKey) ?? { manifestKey, manifest, locations: [], trusted: false };
    entry.locations.push(copy.store.location);
    if (!entry.trusted) entry.trusted = (await judgeCopy(copy, policy, asOf)).trusted;
    found.set(manifestKey, entry);
  }
  const entries = newestFirst([...found.values()]);
  const candidates = entries.map((e) => ({
    trusted: e.trusted,
    id: e.manifestKey,
    createdAt: new Date(e.manifest.createdAt),
    kind: e.manifest.kind,
    copies: {
      local: e.locations.includes(stores.local.location),
      remote: stores.remote ? e.locations.includes(stores.remote.location) : false,
    },
  }));
  const decisions = decideRetention(candidates, asOf, config.retention, {
    local: true,
    remote: Boolean(stores.remote),
  });
  return entries.map((entry, i) => ({
    ...decisions[i]!,
    dataKey: entry.manifest.file.key,
    kind: entry.manifest.kind,
    createdAt: entry.manifest.createdAt,
    locations: entry.locations,
  }));
}

/**
 * Deletes one backup everywhere. Manifests go first, in every store, then the data: a failure half-way
 * leaves data without a manifest (no longer a backup, and removed by a later cleanup), never a
 * manifest that points at nothing. Deleting what is already gone is not an error, so it can be retried.
 */
export async function deleteBackup(stores: Stores, manifestKey: string, dataKey: string): Promise<void> {
  for (const store of storeList(stores)) await store.remove(manifestKey);
  for (const store of storeList(stores)) await store.remove(signatureKeyFor(manifestKey));
  for (const store of storeList(stores)) await store.remove(dataKey);
}

export interface CleanupReport {
  abortedUploads: string[];
  orphanData: string[];
  danglingManifests: string[];
}

/**
 * Removes what failed runs left, if older than a time: unfinished uploads and partial files, data
 * without a manifest, and manifests whose data is gone. Younger ones may belong to a run in progress.
 * Only files named as this database's backups (BACKUP_PREFIX) are touched: a shared bucket may hold
 * other people's dumps.
 */
export async function cleanupIncomplete(
  stores: Stores,
  prefix: string,
  olderThan: Date,
): Promise<CleanupReport> {
  const report: CleanupReport = { abortedUploads: [], orphanData: [], danglingManifests: [] };
  const ours = (key: string) => (key.split('/').pop() ?? '').startsWith(`${prefix}-`);
  for (const store of storeList(stores)) {
    report.abortedUploads.push(...(await store.abortStale(olderThan)));
    const objects = new Map<string, Date>();
    for await (const object of store.list())
      if (ours(object.key)) objects.set(object.key, object.lastModified);
    const manifestsWithData = new Set([...objects.keys()].map(manifestKeyFor));
    for (const [key, modified] of objects) {
      if (modified >= olderThan) continue;
      const manifestKey = manifestKeyFor(key);
      const signed = key.endsWith(SIGNATURE_SUFFIX) ? key.slice(0, -SIGNATURE_SUFFIX.length) : undefined;
      if ((manifestKey && !objects.has(manifestKey)) || (signed && !objects.has(signed))) {
        await store.remove(key);
        report.orphanData.push(store.describe(key));
      } else if (
        key.endsWith(MANIFEST_SUFFIX) &&
        !manifestsWithData.has(key) &&
        !objects.has((await namedDataKey(store, key)) ?? '')
      ) {
        await store.remove(key);
        report.danglingManifests.push(store.describe(key));
      }
    }
  }
  return report;
}

/**
 * The data key a manifest names, read leniently. A later version may name its data in a way this one
 * cannot derive (as .dump.zst.gpg was to the versions before zstd): a manifest whose data is present
 * under the name it gives is a backup, not a leftover, whatever this version makes of the name.
 */
async function namedDataKey(store: BackupStore, manifestKey: string): Promise<string | undefined> {
  try {
    const parsed: unknown = JSON.parse(await text(await store.read(manifestKey)));
    const key = (parsed as { file?: { key?: unknown } } | null)?.file?.key;
    return typeof key === 'string' && isDataKeyOf(manifestKey, key) ? key : undefined;
  } catch {
    return undefined;
  }
}
