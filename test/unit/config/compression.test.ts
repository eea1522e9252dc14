import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { parseCompression, pgDumpLevel, type CompressionSetting } from '../../../src/core/compression.js';
import { BackupError } from '../../../src/core/errors.js';

const compression = (env: Record<string, string>) =>
  loadConfig({ env: { DB_NAME: 'app', ...env } }).backup.compression;

function refusal(env: Record<string, string>): string {
  try {
    compression(env);
  } catch (error) {
    expect(error).toBeInstanceOf(BackupError);
    expect((error as BackupError).kind).toBe('Configuration');
    return (error as BackupError).message;
  }
  throw new Error('expected a configuration error');
}

describe('BACKUP_COMPRESSION', () => {
  it('is zstd at level 3 by default', () => {
    expect(compression({})).toEqual({ method: 'zstd', level: 3 });
  });

  it('reads a method with or without its level', () => {
    const cases: [string, CompressionSetting][] = [
      ['zstd', { method: 'zstd', level: 3 }],
      ['zstd:19', { method: 'zstd', level: 19 }],
      ['gzip', { method: 'gzip', level: 6 }],
      ['gzip:1', { method: 'gzip', level: 1 }],
      ['none', { method: 'none', level: 0 }],
      [' ZSTD:5 ', { method: 'zstd', level: 5 }],
    ];
    for (const [text, setting] of cases) {
      expect(parseCompression(text), text).toEqual(setting);
      expect(compression({ BACKUP_COMPRESSION: text }), text).toEqual(setting);
    }
  });

  it('refuses what is not a method and level it knows', () => {
    for (const text of ['lz4', 'zstd:0', 'zstd:20', 'gzip:10', 'gzip:0', 'none:1', 'zstd:', 'zstd:-1']) {
      expect(parseCompression(text), text).toBeUndefined();
      expect(refusal({ BACKUP_COMPRESSION: text })).toBe(
        'BACKUP_COMPRESSION: expected zstd[:1-19], gzip[:1-9] or none, such as zstd:3',
      );
    }
  });

  it('keeps PG_DUMP_COMPRESSION working: pg_dump gzip at its level, none for 0', () => {
    expect(compression({ PG_DUMP_COMPRESSION: '6' })).toEqual({ method: 'gzip', level: 6 });
    expect(compression({ PG_DUMP_COMPRESSION: '0' })).toEqual({ method: 'none', level: 0 });
    expect(refusal({ PG_DUMP_COMPRESSION: '10' })).toBe('PG_DUMP_COMPRESSION: must be at most 9');
  });

  it('refuses both at once', () => {
    expect(refusal({ PG_DUMP_COMPRESSION: '6', BACKUP_COMPRESSION: 'zstd' })).toBe(
      'PG_DUMP_COMPRESSION: set either BACKUP_COMPRESSION or PG_DUMP_COMPRESSION, not both',
    );
  });

  it('gives pg_dump its level only for gzip: zstd compresses an uncompressed dump (-Z0)', () => {
    expect(pgDumpLevel({ method: 'gzip', level: 4 })).toBe(4);
    expect(pgDumpLevel({ method: 'zstd', level: 3 })).toBe(0);
    expect(pgDumpLevel({ method: 'none', level: 0 })).toBe(0);
  });
});
