// Compression settings of the benchmark: `--compression N` (pg_dump's level, as before),
// `zstd[:L]`, `gzip[:L]` or `none`; what the product is told (BACKUP_COMPRESSION where the build
// reads it, else PG_DUMP_COMPRESSION), and the bare equivalent of each setting, the baseline.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { log, mib, seconds, timed } from './util.mjs';

const LEVELS = { gzip: [0, 9, 6], zstd: [1, 19, 3] };

function setting(method, level) {
  return { method, level, label: method === 'none' ? 'none' : `${method}:${level}` };
}

/** `6` (pg_dump's level, gzip), `zstd`, `zstd:3`, `gzip:6`, `none`; throws on anything else. */
export function parseCompression(text, name = 'compression') {
  const value = text.trim().toLowerCase();
  if (/^\d$/.test(value)) return setting('gzip', Number(value));
  if (value === 'none') return setting('none', 0);
  const match = /^(zstd|gzip)(?::(\d+))?$/.exec(value);
  if (match) {
    const [min, max, fallback] = LEVELS[match[1]];
    const level = match[2] === undefined ? fallback : Number(match[2]);
    if (level >= min && level <= max) return setting(match[1], level);
  }
  throw new Error(`--${name}: expected 0-9, zstd[:1-19], gzip[:0-9] or none, got "${text}"`);
}

/** Whether the built product reads BACKUP_COMPRESSION (issue #18) or only PG_DUMP_COMPRESSION. */
export function productReadsBackupCompression(root) {
  const schema = join(root, 'dist/src/config/schema.js');
  return existsSync(schema) && readFileSync(schema, 'utf8').includes('BACKUP_COMPRESSION');
}

/** The product's own default (no compression variable set), read from the built configuration. */
export async function productDefaultCompression(root) {
  const fallback = productReadsBackupCompression(root) ? setting('zstd', 3) : setting('gzip', 6);
  try {
    const { loadConfig } = await import(join(root, 'dist/src/config/index.js'));
    const value = loadConfig({ env: { DB_NAME: 'bench' } }).backup.compression;
    if (typeof value === 'number') return setting('gzip', value);
    if (typeof value === 'string') return parseCompression(value);
    if (value && typeof value.method === 'string')
      return value.method === 'none' ? setting('none', 0) : setting(value.method, value.level);
    log(`the product's default compression is ${JSON.stringify(value)}: assuming ${fallback.label}`);
  } catch (error) {
    log(`cannot read the product's default compression (${error.message}); assuming ${fallback.label}`);
  }
  return fallback;
}

/** The variables that make the product use `chosen` (undefined: none, its default). */
export function productCompressionEnv(chosen, root) {
  if (!chosen) return {};
  if (productReadsBackupCompression(root)) return { BACKUP_COMPRESSION: chosen.label };
  if (chosen.method === 'zstd')
    throw new Error(`--compression ${chosen.label}: this build reads only PG_DUMP_COMPRESSION (no zstd)`);
  return { PG_DUMP_COMPRESSION: String(chosen.level) };
}

/** env without the product's compression variables: the bench decides what is measured. */
export const withoutCompression = (env) =>
  Object.fromEntries(
    Object.entries(env).filter(([name]) => name !== 'BACKUP_COMPRESSION' && name !== 'PG_DUMP_COMPRESSION'),
  );

/**
 * The bare dump of a setting as a shell script, the database in $1: gzip and none are pg_dump's
 * own; zstd is an uncompressed custom-format dump through `zstd -T2` (the bare equivalent).
 * With a file in $2, the output goes there (pg_dump --file, which fsyncs, as the guide does).
 */
export function dumpScript(chosen, toFile = false) {
  const level = chosen.method === 'gzip' ? chosen.level : 0;
  const dump = `pg_dump --format=custom --compress=${level}`;
  if (chosen.method !== 'zstd') return toFile ? `${dump} --file="$2" "$1"` : `${dump} "$1"`;
  return `${dump} "$1" | zstd -T2 -${chosen.level} -q${toFile ? ' -o "$2"' : ''}`;
}

/**
 * The bare dump into /dev/null or a file (stdout, not --file: with it pg_dump fsyncs and refuses
 * /dev/null). The file descriptor itself goes to the shell: no byte passes through this process.
 */
export async function bareDump(env, database, chosen, target = '/dev/null') {
  const fd = openSync(target, 'w', 0o600);
  try {
    const [, ms] = await timed(() =>
      execa('bash', ['-o', 'pipefail', '-c', dumpScript(chosen), 'bash', database], {
        env,
        stdin: 'ignore',
        stdout: fd,
      }),
    );
    return ms;
  } finally {
    closeSync(fd);
  }
}

/** Bare pg_dump -Fc -Z<level> to a file at each level: time and size. */
export async function compressionTable(env, database, levels, folder) {
  const rows = [];
  for (const level of levels) {
    const file = join(folder, `level-${level}.dump`);
    const ms = await bareDump(env, database, setting('gzip', level), file);
    const { size } = await stat(file);
    await rm(file, { force: true });
    rows.push({ level, seconds: seconds(ms), size_mb: mib(size) });
    log(`compression table: -Z${level}: ${seconds(ms)} s, ${mib(size)} MiB`);
  }
  return rows;
}
