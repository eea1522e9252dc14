import { listCopies, type BackupCopy } from '../storage/catalog.js';
import { signatureKeyFor } from '../core/trust.js';
import { judgeCopy, trustPolicyOf } from '../crypto/signing.js';
import type { Config } from '../config/index.js';
import { serializeManifest } from '../core/manifest.js';
import { isComplete, reconcileCopies, type BackupCopies, type DriftReport } from '../core/reconcile.js';
import { hashFile } from '../restore/source.js';
import { storesKey, type Stores } from '../storage/index.js';
import type { BackupStore, LocalStore } from '../storage/types.js';

// 3-2-1 reconciliation, the I/O: what each store holds of this database's backups (manifests, and the
// archives' size and storage class from the store), compared by src/core/reconcile.ts. Used by
// `backupctl health` (and --repair) and by the retention sweep.

/**
 * The copies in each store, listed once for all the databases kept there: `health` of fifty
 * databases in one bucket lists it once, not fifty times. For one run of reads: what it listed is
 * not listed again.
 */
export class CopyListings {
  private readonly listed = new Map<string, Promise<Map<string, BackupCopy>>>();

  copiesIn(config: Config, store: BackupStore, which: 'local' | 'remote'): Promise<Map<string, BackupCopy>> {
    const key = JSON.stringify([storesKey(config), which]);
    if (!this.listed.has(key)) this.listed.set(key, listCopies(store));
    return this.listed.get(key)!;
  }
}

/**
 * What each store holds of this database's backups, by manifest key; each complete copy judged as a
 * reader would (signed by a trusted key, not from the future, encrypted where the worker encrypts).
 * Listings come from `listings` when given (shared by several databases), else are made now.
 */
export async function collectCopies(
  config: Config,
  stores: Stores,
  listings = new CopyListings(),
  now = new Date(),
): Promise<BackupCopies<BackupCopy>[]> {
  const [local, remote] = await Promise.all([
    listings.copiesIn(config, stores.local, 'local'),
    stores.remote ? listings.copiesIn(config, stores.remote, 'remote') : new Map<string, never>(),
  ]);
  const ours = [...new Set([...local.keys(), ...remote.keys()])]
    .map((manifestKey) => ({ manifestKey, local: local.get(manifestKey), remote: remote.get(manifestKey) }))
    .filter((c) => (c.local ?? c.remote)!.manifest.database === config.database.name);
  const policy = await trustPolicyOf(config);
  for (const copy of ours.flatMap((c) => [c.local, c.remote])) {
    if (!isComplete(copy)) continue;
    const verdict = await judgeCopy(copy, policy, now);
    if (!verdict.trusted) copy.untrusted = verdict.reason;
  }
  return ours;
}

/** Where the local and remote copies of this database's complete backups disagree. */
export async function reconcile(config: Config, stores: Stores): Promise<DriftReport> {
  return reconcileCopies(await collectCopies(config, stores), Boolean(stores.remote));
}

export interface RepairOutcome {
  dataKey: string;
  repaired: boolean;
  detail: string;
}

/**
 * Uploads again every remote copy that is missing or damaged, from a local copy verified against its
 * manifest first; then the manifest, remote then local, as the backup writes it. Deletes nothing:
 * it only writes the backup's own keys. One failure does not stop the others.
 */
export async function repairRemoteCopies(
  config: Config,
  stores: Stores<LocalStore>,
): Promise<RepairOutcome[]> {
  const { remote } = stores;
  if (!remote) return [];
  const copies = await collectCopies(config, stores);
  // Repairable means the local copy is complete and trusted (collectCopies judged it): an
  // unauthenticated copy is never uploaded over a good one.
  const repairable = reconcileCopies(copies, true).drift.filter((d) => d.repairable);
  const outcomes: RepairOutcome[] = [];
  for (const drift of repairable) {
    const local = copies.find((c) => c.manifestKey === drift.manifestKey)!.local!;
    const outcome = await repairOne(config, stores, remote, drift.manifestKey, local).catch(
      (error: unknown) => ({ dataKey: drift.dataKey, repaired: false, detail: messageOf(error) }),
    );
    outcomes.push(outcome);
  }
  return outcomes;
}

async function repairOne(
  config: Config,
  stores: Stores<LocalStore>,
  remote: BackupStore,
  manifestKey: string,
  local: BackupCopy,
): Promise<RepairOutcome> {
  const { manifest } = local;
  const { key, bytes, sha256 } = manifest.file;
  const path = stores.local.pathOf(key);
  const actual = await hashFile(path);
  if (actual.bytes !== bytes || actual.sha256 !== sha256) {
    const found = `sha256 ${actual.sha256.slice(0, 12)}…, ${actual.bytes} bytes`;
    const detail = `the local copy does not match its manifest (${found}): not uploaded`;
    return { dataKey: key, repaired: false, detail };
  }
  const storageClass = config.s3?.storageClasses?.[manifest.kind];
  const put = await remote.putFile(key, path, { storageClass });
  if (local.signatureText) {
    // A signed manifest is copied as it is, with its signature: rewriting it would void the signature.
    await remote.putBytes(signatureKeyFor(manifestKey), local.signatureText);
    await remote.putBytes(manifestKey, local.manifestText);
  } else {
    const text = serializeManifest({
      ...manifest,
      remote: { location: remote.location, key, etag: put.etag, storageClass },
    });
    await remote.putBytes(manifestKey, text);
    await stores.local.putBytes(manifestKey, text);
  }
  const where = `${remote.describe(key)}${storageClass ? ` (${storageClass})` : ''}`;
  return {
    dataKey: key,
    repaired: true,
    detail: `uploaded ${put.size} bytes to ${where}, then its manifest`,
  };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
