import type { Readable } from 'node:stream';
import { execa, type Result } from 'execa';
import { pgDumpLevel, type CompressionMethod, type CompressionSetting } from '../core/compression.js';
import { BackupError } from '../core/errors.js';
import { toolEnv } from '../process/env.js';
import { outputUntilExit } from './child-output.js';

/**
 * The compression seam: what turns the archive into the bytes the encryption wraps, and back. "No
 * stage" is a real driver (none, and gzip, which pg_dump does itself): its stages hand back the
 * stream they are given, so callers never branch on a method.
 */
export interface Compressor {
  readonly setting: CompressionSetting;
  /** False: compress and decompress return their input unchanged (pg_dump compresses, or nothing does). */
  readonly stage: boolean;
  /** The level pg_dump itself compresses at (pg_dump --compress). */
  readonly pgDumpLevel: number;
  /** The archive, compressed as it streams; errors (typed) when the compressor fails. */
  compress(archive: Readable, signal?: AbortSignal): Readable;
  /**
   * The archive back, as the compressed bytes stream in; errors (a BackupError saying what is wrong)
   * on a damaged or cut stream, once the bytes before the damage have been passed on.
   */
  decompress(compressed: Readable, signal?: AbortSignal): Readable;
}

/** No stream stage: none, or gzip inside pg_dump's custom format. */
function inPgDump(setting: CompressionSetting): Compressor {
  return {
    setting,
    stage: false,
    pgDumpLevel: pgDumpLevel(setting),
    compress: (archive) => archive,
    decompress: (compressed) => compressed,
  };
}

/**
 * zstd's CLI (Debian's zstd): multi-threaded (-T2: two cores, beside pg_dump and the encryption),
 * with its frame checksum, so damage fails the decompression instead of passing on.
 */
function zstd(setting: CompressionSetting): Compressor {
  return {
    setting,
    stage: true,
    pgDumpLevel: 0,
    compress: (archive, signal) =>
      runZstd([`-${setting.level}`, '-T2', '--check'], archive, 'compress', signal),
    decompress: (compressed, signal) => runZstd(['-d'], compressed, 'decompress', signal),
  };
}

/** The driver of a setting (or a manifest's record of one). */
export function compressorFor(setting: CompressionSetting): Compressor {
  const { method, level } = setting;
  const drivers: Record<CompressionMethod, (s: CompressionSetting) => Compressor> = {
    zstd,
    gzip: inPgDump,
    none: inPgDump,
  };
  return drivers[method]({ method, level });
}

type Direction = 'compress' | 'decompress';

/** input through `zstd ARGS -c` (stdin to stdout); the output ends only once zstd exited cleanly. */
function runZstd(args: string[], input: Readable, direction: Direction, signal?: AbortSignal): Readable {
  const child = execa('zstd', ['-q', '-c', ...args], {
    ...toolEnv(),
    // In an array, execa pipes the stream itself, with backpressure.
    stdio: [[input, 'pipe'], 'pipe', 'pipe'],
    buffer: { stdout: false },
    cancelSignal: signal,
    reject: false,
  });
  return outputUntilExit(child, (result) => {
    if (result.failed) throw zstdFailure(result, direction);
  });
}

/** What a failed zstd means to the user: one line, with what to do. */
export function zstdFailure(result: Result, direction: Direction): unknown {
  // The input failed (a read error, a failed decryption): that is the problem, not zstd's view of it.
  const cause = result.cause as { syscall?: unknown; code?: unknown } | undefined;
  if (cause instanceof BackupError) return cause;
  if (cause?.code === 'ENOENT' && cause.syscall === 'spawn zstd') {
    return new BackupError('MissingDependency', 'zstd is not installed or not on PATH', {
      hint: 'install zstd (scripts/setup.sh does); without it, BACKUP_COMPRESSION=gzip makes backups pg_dump compresses',
    });
  }
  if (cause?.syscall) return cause;
  const detail = zstdMessage(result);
  if (direction === 'compress') {
    return new BackupError('DumpFailed', `zstd failed to compress the archive: ${detail}`, {
      retryable: true,
    });
  }
  return new BackupError('DecryptionFailed', `zstd cannot decompress the archive: ${detail}`, {
    retryable: false,
    hint: 'the stored stream is damaged or not zstd: check the copy with backupctl reread, and restore another backup',
  });
}

/** zstd's own words ("zstd: /*stdin*\: unsupported format"), without its name; the exit code otherwise. */
function zstdMessage(result: Result): string {
  if (result.isCanceled) return 'cancelled';
  const line = String(result.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean);
  return line?.replace(/^zstd: (\/\*stdin\*\\: )?/, '') || `exit code ${String(result.exitCode)}`;
}
