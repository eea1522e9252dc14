import { text } from 'node:stream/consumers';
import { BackupError } from '../core/errors.js';
import { MANIFEST_SUFFIX } from '../core/naming.js';
import { parseManifest, type Manifest } from '../core/manifest.js';
import { isComplete, type StoreCopy } from '../core/reconcile.js';
import { signatureKeyFor, type Verdict } from '../core/trust.js';
import type { BackupStore, StoredObject } from './types.js';

export interface CatalogEntry {
  manifestKey: string;
  manifest: Manifest;
  /** Where the archive is present with the manifest's size. */
  locations: string[];
  /** Listed by listTrustedBackups: the trusted key that signed it (absent when accepted unsigned). */
  signer?: string;
}

/** A store's copy of a backup, with the archive as the store reports it (size, storage class). */
export type StoredCopy = StoreCopy & { archive?: StoredObject };

/** One store's copy of a backup, as its manifest there describes it. */
export interface BackupCopy extends StoredCopy {
  manifestKey: string;
  store: BackupStore;
  /** The manifest's exact text (what its signature covers), and the signature beside it, if any. */
  manifestText: string;
  signatureText?: string;
}

/** Whether a reader may trust a copy (src/crypto/signing.ts's judgeCopy with the worker's policy). */
export type Judge = (copy: BackupCopy) => Promise<Verdict>;

/** A complete copy a reader refused: where it is, and why. */
export interface RefusedCopy {
  manifestKey: string;
  /** The database its manifest names (a shared bucket holds others' backups too). */
  database: string;
  createdAt: string;
  where: string;
  reason: string;
}

/** Manifests read at once while listing a store: a bucket of fifty databases takes seconds, not minutes. */
const READS_AT_ONCE = 8;

/**
 * Every copy that has a readable manifest, whatever state its archive is in: a re-read must see a
 * truncated or lost archive, which listCompleteBackups leaves out. Each store is listed once; its
 * archives and signatures are found in that listing rather than asked for one by one, and up to
 * READS_AT_ONCE manifests are read at a time, yielded in the listing's order.
 */
export async function* backupCopies(stores: BackupStore[]): AsyncIterable<BackupCopy> {
  for (const store of stores) {
    const listed = new Map<string, StoredObject>();
    for await (const object of store.list()) listed.set(object.key, object);
    const manifests = [...listed.keys()].filter((key) => key.endsWith(MANIFEST_SUFFIX));
    for await (const copy of readAhead(manifests, READS_AT_ONCE, (key) => readCopy(store, key, listed)))
      if (copy) yield copy;
  }
}

async function readCopy(
  store: BackupStore,
  manifestKey: string,
  listed: Map<string, StoredObject>,
): Promise<BackupCopy | undefined> {
  const read = await readManifestIfAny(store, manifestKey);
  if (!read) return undefined;
  const { manifest, manifestText } = read;
  // Written before the manifest, so listed with it; asked for only if it came after the listing.
  const archive = listed.get(manifest.file.key) ?? (await store.stat(manifest.file.key));
  const signatureKey = signatureKeyFor(manifestKey);
  const signatureText = listed.has(signatureKey)
    ? await text(await store.read(signatureKey))
    : await readSignature(store, manifestKey);
  return { manifestKey, manifest, store, archive, manifestText, signatureText };
}

/**
 * read(item) for each item, up to `limit` at once, the results yielded in the items' order. A failure
 * is thrown when its turn comes; the reads still running then are left to end unobserved.
 */
async function* readAhead<T, R>(items: T[], limit: number, read: (item: T) => Promise<R>): AsyncIterable<R> {
  const running: Promise<R>[] = [];
  let next = 0;
  const fill = () => {
    while (next < items.length && running.length < limit) {
      const reading = read(items[next++]!);
      reading.catch(() => undefined);
      running.push(reading);
    }
  };
  fill();
  while (running.length > 0) {
    const result = await running.shift()!;
    fill();
    yield result;
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

/**
 * The complete backups a reader may trust, newest first (a location counts only where its copy is
 * trusted), and the complete copies it refused, with the reason, newest first.
 */
export async function listTrustedBackups(
  stores: BackupStore[],
  judge: Judge,
): Promise<{ entries: CatalogEntry[]; refused: RefusedCopy[] }> {
  const entries = new Map<string, CatalogEntry>();
  const refused: RefusedCopy[] = [];
  for await (const copy of backupCopies(stores)) {
    if (!isComplete(copy)) continue;
    const verdict = await judge(copy);
    if (!verdict.trusted) {
      const { manifestKey, manifest, store } = copy;
      const where = store.describe(manifest.file.key);
      const { database, createdAt } = manifest;
      refused.push({ manifestKey, database, createdAt, where, reason: verdict.reason });
      continue;
    }
    const entry = entries.get(copy.manifestKey) ?? {
      manifestKey: copy.manifestKey,
      manifest: copy.manifest,
      locations: [],
      ...(verdict.signer ? { signer: verdict.signer } : {}),
    };
    entry.locations.push(copy.store.location);
    entries.set(copy.manifestKey, entry);
  }
  refused.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return { entries: newestFirst([...entries.values()]), refused };
}

/**
 * Every readable manifest in one store, by key, with the archive it names (undefined when missing),
 * its exact text and its signature.
 */
export async function listCopies(store: BackupStore): Promise<Map<string, BackupCopy>> {
  const copies = new Map<string, BackupCopy>();
  for await (const copy of backupCopies([store])) copies.set(copy.manifestKey, copy);
  return copies;
}

export function newestFirst<T extends { manifest: Manifest }>(entries: T[]): T[] {
  return entries.sort((a, b) => b.manifest.createdAt.localeCompare(a.manifest.createdAt));
}

/** A store's manifest of a backup, or a DownloadFailed error saying it is missing or unreadable. */
export async function readManifest(store: BackupStore, key: string): Promise<Manifest> {
  return (await readSignedManifest(store, key)).manifest;
}

/** A store's manifest with its exact text and its signature (undefined when there is none). */
export async function readSignedManifest(
  store: BackupStore,
  key: string,
): Promise<{ manifest: Manifest; manifestText: string; signatureText?: string }> {
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
  const manifestText = await text(await store.read(key));
  const manifest = parseManifest(manifestText, store.describe(key));
  return { manifest, manifestText, signatureText: await readSignature(store, key) };
}

/** The detached signature beside a manifest, or undefined when there is none. */
async function readSignature(store: BackupStore, manifestKey: string): Promise<string | undefined> {
  const key = signatureKeyFor(manifestKey);
  if (!(await store.stat(key))) return undefined;
  return text(await store.read(key));
}

/** A manifest we cannot read does not make a backup: listings go on without it. */
async function readManifestIfAny(
  store: BackupStore,
  key: string,
): Promise<{ manifest: Manifest; manifestText: string } | undefined> {
  try {
    const manifestText = await text(await store.read(key));
    return { manifest: parseManifest(manifestText, store.describe(key)), manifestText };
  } catch {
    return undefined;
  }
}
