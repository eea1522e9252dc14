import { listCompleteBackups, type CatalogEntry } from '../storage/catalog.js';
import type { Config } from '../config/index.js';
import { storeList, storesKey, type Stores } from '../storage/index.js';
import type { BackupStore } from '../storage/types.js';

/** What the catalog of complete backups says about one database: the source of the guide's gauges. */
export interface CatalogFacts {
  /** The newest complete backup; undefined when there is none. */
  newest?: { completedAtSeconds: number; fileBytes: number };
  count: number;
  /** Complete backups in each place; remote is undefined when no bucket is configured. */
  copies: { local: number; remote?: number };
}

/**
 * One listing of a set of stores at a time, whatever the number of databases kept there: a scrape
 * that asks for fifty databases' facts at once lists their shared bucket once, not fifty times. A
 * listing is shared only while it runs; the next read lists again.
 */
export class SharedListings {
  private readonly running = new Map<string, Promise<CatalogEntry[]>>();

  completeBackups(config: Config, stores: Stores): Promise<CatalogEntry[]> {
    const key = storesKey(config);
    let listing = this.running.get(key);
    if (!listing) {
      listing = listCompleteBackups(storeList(stores)).finally(() => this.running.delete(key));
      this.running.set(key, listing);
    }
    return listing;
  }
}

/** Reads the catalog (manifests with their archives) of this configuration's database. */
export async function readCatalogFacts(
  config: Config,
  stores: Stores,
  listings = new SharedListings(),
): Promise<CatalogFacts> {
  const entries = (await listings.completeBackups(config, stores)).filter(
    (e) => e.manifest.database === config.database.name,
  );
  const newest = entries[0];
  const countIn = (store: BackupStore) => entries.filter((e) => e.locations.includes(store.location)).length;
  return {
    newest: newest && {
      completedAtSeconds: Date.parse(newest.manifest.completedAt) / 1000,
      fileBytes: newest.manifest.file.bytes,
    },
    count: entries.length,
    copies: { local: countIn(stores.local), remote: stores.remote && countIn(stores.remote) },
  };
}

/**
 * Listing a bucket on every scrape would cost requests and seconds: one listing serves the scrapes
 * of a while. A listing that fails is logged and the last good one is served, so one S3 hiccup
 * neither blanks the gauges nor fails the whole scrape; stale values still age into BackupTooOld.
 */
export class CachedCatalog<T = CatalogFacts> {
  private cached?: { facts: Promise<T | undefined>; readAt: number };
  private lastGood?: T;

  constructor(
    readonly database: string,
    private readonly read: () => Promise<T>,
    private readonly onError: (error: unknown) => void,
    private readonly maxAgeMs = 60_000,
  ) {}

  facts(): Promise<T | undefined> {
    if (!this.cached || Date.now() - this.cached.readAt > this.maxAgeMs) {
      this.cached = { facts: this.readOrLastGood(), readAt: Date.now() };
    }
    return this.cached.facts;
  }

  /** The catalog changed (a backup finished, a sweep deleted some): the next scrape reads it again. */
  invalidate(): void {
    this.cached = undefined;
  }

  private async readOrLastGood(): Promise<T | undefined> {
    try {
      this.lastGood = await this.read();
    } catch (error) {
      this.onError(error);
    }
    return this.lastGood;
  }
}
