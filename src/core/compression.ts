// How a backup's archive is compressed (BACKUP_COMPRESSION), and how its manifest says so. Pure.
//
// zstd (the default) is a stream stage of our own around an uncompressed custom-format dump
// (pg_dump -Fc -Z0 | zstd), between the pg_restore --list tee and the encryption; gzip is pg_dump's
// own (-Fc -Z LEVEL, the operations guide's exact archives); none is -Z0 alone.

export const COMPRESSION_METHODS = ['zstd', 'gzip', 'none'] as const;
export type CompressionMethod = (typeof COMPRESSION_METHODS)[number];

export interface CompressionSetting {
  method: CompressionMethod;
  /** zstd 1-19, gzip 1-9; 0 for none. */
  level: number;
}

export const DEFAULT_COMPRESSION: CompressionSetting = { method: 'zstd', level: 3 };

const LEVELS: Record<CompressionMethod, { min: number; max: number; default: number }> = {
  zstd: { min: 1, max: 19, default: 3 },
  gzip: { min: 1, max: 9, default: 6 },
  none: { min: 0, max: 0, default: 0 },
};

/** The words of a bad BACKUP_COMPRESSION, for the configuration error. */
export const COMPRESSION_SYNTAX = 'expected zstd[:1-19], gzip[:1-9] or none, such as zstd:3';

/** BACKUP_COMPRESSION's value (`zstd`, `zstd:5`, `gzip:6`, `none`), or undefined when it is not one. */
export function parseCompression(text: string): CompressionSetting | undefined {
  const match = /^(zstd|gzip|none)(?::(\d{1,2}))?$/.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const method = match[1] as CompressionMethod;
  const range = LEVELS[method];
  if (match[2] === undefined) return { method, level: range.default };
  const level = Number(match[2]);
  if (method === 'none' || level < range.min || level > range.max) return undefined;
  return { method, level };
}

/** Today's PG_DUMP_COMPRESSION (pg_dump -Z 0-9) as a setting: pg_dump's gzip, none for 0. */
export function fromPgDumpLevel(level: number): CompressionSetting {
  return level === 0 ? { method: 'none', level: 0 } : { method: 'gzip', level };
}

/** The level pg_dump compresses at itself (--compress): gzip's, else 0. */
export function pgDumpLevel({ method, level }: CompressionSetting): number {
  return method === 'gzip' ? level : 0;
}

/** Size and SHA-256 (hex) of a stream of bytes. */
export interface Digest {
  bytes: number;
  sha256: string;
}

/**
 * The manifest's record: the method and level; for a stream stage, also the compressed stream (what
 * the encryption wrapped), so key rotation can check what it decrypts without decompressing.
 */
export type ManifestCompression = CompressionSetting & { stream?: Digest };

/**
 * The manifest's compression, whichever version wrote it: a number (manifests made before
 * BACKUP_COMPRESSION) is pg_dump's own gzip at that level, 0 none.
 */
export function compressionOf(manifest: { compression: number | ManifestCompression }): ManifestCompression {
  const { compression } = manifest;
  return typeof compression === 'number' ? fromPgDumpLevel(compression) : compression;
}
