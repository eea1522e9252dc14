import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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
  /**
   * decompress(), written by the decompressor itself into the open file `fd` (no byte of the archive
   * passes through this process), never more than limitBytes: a stream that decompresses to more
   * (a zstd bomb, where an unsigned manifest names another archive) fails with DecryptionFailed.
   * Resolves once the whole stream was decompressed and checked.
   */
  decompressToFile(compressed: Readable, fd: number, limitBytes: number, signal?: AbortSignal): Promise<void>;
}

/** No stream stage: none, or gzip inside pg_dump's custom format. */
function inPgDump(setting: CompressionSetting): Compressor {
  return {
    setting,
    stage: false,
    pgDumpLevel: pgDumpLevel(setting),
    compress: (archive) => archive,
    decompress: (compressed) => compressed,
    decompressToFile: (compressed, fd, _limit, signal) =>
      pipeline(compressed, createWriteStream('', { fd, autoClose: false }), { signal }),
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
    decompressToFile: (compressed, fd, limitBytes, signal) => zstdToFile(compressed, fd, limitBytes, signal),
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

/** What zstdFailure reads of a finished zstd: execa's Result has it, and zstdToFile makes one. */
type ToolResult = Pick<Result, 'cause' | 'stderr' | 'exitCode' | 'isCanceled'>;

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

/**
 * `zstd -d` of input into the file fd, under `prlimit --fsize`: the kernel refuses any write past
 * limitBytes (SIGXFSZ), so a bomb stops there, whatever its ratio, and costs no extra pass. Node's
 * spawn, not execa: execa would pipe zstd's output through this process instead of handing it the fd.
 */
async function zstdToFile(input: Readable, fd: number, limitBytes: number, signal?: AbortSignal) {
  const child = spawn('prlimit', [`--fsize=${limitBytes}`, 'zstd', '-q', '-d', '-c'], {
    env: definedOnly(toolEnv().env),
    stdio: ['pipe', fd, 'pipe'],
    signal,
  });
  // Whichever fails first: the input (then pipeline hands its error to zstd's stdin too), or the
  // pipe to zstd, which stops reading when it fails (then its exit says why, not the broken pipe).
  let inputFailure: unknown;
  let pipeFailed = false;
  input.once('error', (error) => {
    if (!pipeFailed) inputFailure = error;
  });
  child.stdin!.once('error', () => (pipeFailed = true));
  const fed = pipeline(input, child.stdin!).catch(() => undefined);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 16_384) stderr += text;
  });
  const exited = new Promise<{ code: number | null; killedBy: NodeJS.Signals | null; cause?: unknown }>(
    (resolve) => {
      child.once('error', (cause) => resolve({ code: null, killedBy: null, cause }));
      child.once('close', (code, killedBy) => resolve({ code, killedBy }));
    },
  );
  const [, { code, killedBy, cause }] = await Promise.all([fed, exited]);
  signal?.throwIfAborted();
  // The input failed (a failed decryption, a read error): that is the problem, not zstd's view of it.
  if (inputFailure) throw inputFailure;
  if (code === 0) return;
  if (killedBy === 'SIGXFSZ') {
    throw new BackupError(
      'DecryptionFailed',
      `the archive decompresses to more than the ${limitBytes} bytes the manifest says`,
      { retryable: false, hint: 'the backup is not the one its manifest describes: restore another backup' },
    );
  }
  const result = { cause, stderr, exitCode: code ?? undefined, isCanceled: false };
  throw prlimitFailure(result) ?? zstdFailure(result, 'decompress');
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

/** prlimit (util-linux) missing, or unable to start zstd; undefined when zstd itself failed. */
function prlimitFailure(result: ToolResult): BackupError | undefined {
  const cause = result.cause as { syscall?: unknown; code?: unknown } | undefined;
  if (cause?.code === 'ENOENT' && cause.syscall === 'spawn prlimit') {
    return new BackupError('MissingDependency', 'prlimit is not installed or not on PATH', {
      hint: 'install util-linux (every Debian has it): it caps what zstd may write',
    });
  }
  if (/^prlimit: failed to execute zstd/m.test(String(result.stderr))) {
    return new BackupError('MissingDependency', 'zstd is not installed or not on PATH', {
      hint: 'install zstd (scripts/setup.sh does); without it, BACKUP_COMPRESSION=gzip makes backups pg_dump compresses',
    });
  }
  return undefined;
}

/** What a failed zstd means to the user: one line, with what to do. */
export function zstdFailure(result: ToolResult, direction: Direction): unknown {
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
function zstdMessage(result: ToolResult): string {
  if (result.isCanceled) return 'cancelled';
  const line = String(result.stderr ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean);
  return line?.replace(/^zstd: (\/\*stdin\*\\: )?/, '') || `exit code ${String(result.exitCode)}`;
}
