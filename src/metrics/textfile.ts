import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import { openStores, storesKey, type Stores } from '../storage/index.js';
import { CachedCatalog, SharedListings, readCatalogFacts } from './catalog.js';
import { pitrSourceOf, registerPitrGauges, type PitrSource } from './pitr.js';
import { registerCatalogGauges } from './registry.js';

/**
 * Writes the catalog gauges of these databases for node-exporter's textfile collector. Written to a
 * temporary file in the same folder and renamed, so the collector never reads half a file. A listing
 * that fails fails the command and leaves the old file: its timestamps age into BackupTooOld.
 */
export async function writeMetricsTextfile(path: string, configs: Config[]): Promise<void> {
  const registry = new Registry();
  // Databases that share their stores share one listing of them (and one S3 client).
  const listings = new SharedListings();
  const stores = new Map<string, Stores>();
  const storesOf = (config: Config) =>
    stores.get(storesKey(config)) ??
    stores.set(storesKey(config), openStores(config)).get(storesKey(config))!;
  const catalogs = configs.map(
    (config) =>
      new CachedCatalog(
        config.database.name,
        () => readCatalogFacts(config, storesOf(config), listings),
        (error) => {
          throw error;
        },
      ),
  );
  registerCatalogGauges(registry, catalogs);
  const fail = (error: unknown) => {
    throw error;
  };
  registerPitrGauges(
    registry,
    configs.map((config) => pitrSourceOf(config, fail)).filter((s): s is PitrSource => s !== undefined),
  );
  const text = await registry.metrics();
  // The collector reads only *.prom files: a dot file without that suffix is never half-read.
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, text, { mode: 0o644 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
