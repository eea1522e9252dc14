import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import type { CatalogEntry, RefusedCopy } from '../storage/catalog.js';
import { formatBytes } from './format.js';

// `backupctl list`: the complete, trusted backups of each database this run is for (every database
// of a --config file in one call). Databases that share stores are listed from one pass over them:
// fifty databases in one bucket cost one listing, not fifty.

interface Listing {
  entries: CatalogEntry[];
  refused: RefusedCopy[];
}

export function registerListCommand(program: Command, loadConfigs: () => Config[]): void {
  program
    .command('list')
    .description('list the complete backups (with manifests) of each configured database, local and remote')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const configs = loadConfigs();
      const listingOf = await listingsByStores(configs);
      const entries: CatalogEntry[] = [];
      for (const config of configs) {
        const ours = (e: { database: string }) => e.database === config.database.name;
        const listing = listingOf(config);
        entries.push(...listing.entries.filter((e) => ours(e.manifest)));
        // Only what a restore would trust is listed; the rest is named on stderr, with the reason.
        for (const refused of listing.refused.filter(ours))
          console.error(`warning: ${refused.where}: not trusted: ${refused.reason}`);
      }
      if (options.json) return console.log(JSON.stringify(entries, null, 2));
      if (entries.length === 0) console.log('no complete, trusted backups');
      // One database keeps the four columns scripts read; several put the database first.
      const several = configs.length > 1;
      for (const { manifest, locations } of entries) {
        const where = locations.map((l) => (l.startsWith('s3://') ? 'remote' : 'local')).join('+');
        const columns = [manifest.file.key, manifest.kind, formatBytes(manifest.file.bytes), where];
        console.log((several ? [manifest.database, ...columns] : columns).join('\t'));
      }
    });
}

/** One listing per set of stores and trusted keys: databases that share them share a listing. */
async function listingsByStores(configs: Config[]): Promise<(config: Config) => Listing> {
  const [{ listTrustedBackups }, { openStores, storeList, storesKey }, { judgeCopy, trustPolicyOf }] =
    await Promise.all([
      import('../storage/catalog.js'),
      import('../storage/index.js'),
      import('../crypto/signing.js'),
    ]);
  const keyOf = (config: Config) =>
    JSON.stringify([storesKey(config), config.signing.keyFile, config.signing.trustedSigners]);
  const now = new Date();
  const listings = new Map<string, Listing>();
  for (const config of configs) {
    const key = keyOf(config);
    if (listings.has(key)) continue;
    const policy = await trustPolicyOf(config);
    listings.set(
      key,
      await listTrustedBackups(storeList(openStores(config)), (c) => judgeCopy(c, policy, now)),
    );
  }
  return (config) => listings.get(keyOf(config))!;
}
