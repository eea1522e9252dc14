import type { Manifest } from '../manifest.js';
import { manifestKeyFor } from '../naming.js';

// Which backup a restore's source names (see src/restore/source.ts for the reading).

/**
 * A key the user typed, relative to S3_PREFIX: with or without the prefix (the guide lists them
 * with it), never escaping it. Undefined when the key is not a backup's data.
 */
export function relativeS3Key(key: string, prefix: string): string | undefined {
  const relative = prefix && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  const segments = relative.split('/');
  if (relative.startsWith('/') || segments.some((s) => s === '..' || s === '.' || s === '')) return undefined;
  return manifestKeyFor(relative) ? relative : undefined;
}

/** The newest backup taken before a time (or the newest of all), of those given newest first. */
export function newestBefore<T extends { manifest: Manifest }>(entries: T[], before?: string): T | undefined {
  const limit = before ? new Date(before).getTime() : Infinity;
  return entries.find((e) => new Date(e.manifest.createdAt).getTime() < limit);
}
