import { createWriteStream } from 'node:fs';
import { rename } from 'node:fs/promises';
import { PassThrough, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../core/compression.js';
import { ioFailure } from '../core/errors.js';
import type { Sealer } from '../crypto/seal.js';
import type { DumpFacts, RunningDump } from '../postgres/dump.js';
import { startTocReader } from '../postgres/verify.js';
import type { GrowingUpload } from '../storage/types.js';
import { chain } from '../stream/chain.js';
import type { Compressor } from '../stream/compression.js';
import { Gather } from '../stream/gather.js';
import { HashingStream, PartHashingStream } from '../stream/hashing.js';
import { discardPartial } from '../stream/partial-file.js';

export interface StepTimes {
  dumpMs: number;
  verifyMs: number;
  encryptMs: number;
}

export interface PipelineResult {
  archive: { bytes: number; sha256: string; tocEntries: number };
  /** The compressed stream, when the compressor is a stage of ours (zstd); what the encryption wrapped. */
  compressed?: Digest;
  file: { bytes: number; sha256: string };
  facts: DumpFacts;
  times: StepTimes;
}

export interface PipelineOptions {
  dump: RunningDump;
  /** Compresses the archive after pg_restore --list has seen it; none and gzip (pg_dump's) pass it on. */
  compressor: Compressor;
  sealer: Sealer;
  targetPath: string;
  signal?: AbortSignal;
  /** Called every second or so with the bytes written to the target so far. */
  onProgress?: (writtenBytes: number) => void;
  /** Sends complete parts while the file grows, so the upload overlaps the dump. */
  upload?: GrowingUpload;
}

const PROGRESS_INTERVAL_MS = 1_000;
/**
 * pg_dump blocks whenever its pipe (64 KiB) is full. Reading it into a deep buffer keeps pg_dump
 * running through the moments when encryption, hashing or an upload keep this process busy.
 */
const PIPE_BUFFER_BYTES = 32 * 1024 * 1024;
/** What every stage after the pipe handles at a time: see Gather. */
const CHUNK_BYTES = 1024 * 1024;

/**
 * One pass over the archive as pg_dump writes it: hash it, show it to `pg_restore --list`, compress
 * it (zstd; hashed again), encrypt it, hash that, and write it to targetPath (through a .partial file renamed into place). The
 * plaintext never touches the disk. Fails, leaving no partial file, unless pg_dump exited cleanly,
 * the table of contents was read and every byte was written.
 */
export async function dumpVerifyEncrypt(options: PipelineOptions): Promise<PipelineResult> {
  const { dump, compressor, sealer, targetPath, upload } = options;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const partial = `${targetPath}.partial`;
  const failed = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failed.signal]) : failed.signal;

  const toc = startTocReader(signal, dump.toolsIn);
  // What the encryption reads comes in 1 MiB chunks (see Gather): the archive itself, or, with a
  // zstd stage, what zstd makes of it. The archive then goes to zstd as pg_dump wrote it, without
  // the copy: on its way it is only hashed and shown to pg_restore --list, and zstd, not this
  // process, is the slow reader that pg_dump waits for.
  const archiveHash = new HashingStream({ writableHighWaterMark: PIPE_BUFFER_BYTES });
  const plaintext = new PassThrough();
  const compressedHash = compressor.stage ? new HashingStream() : undefined;
  const toSeal = compressedHash
    ? chain(chain(compressor.compress(plaintext, signal), new Gather(CHUNK_BYTES)), compressedHash)
    : plaintext;
  const archive = compressedHash
    ? dump.archive
    : chain(dump.archive, new Gather(CHUNK_BYTES, PIPE_BUFFER_BYTES));
  const fileHash = new HashingStream();
  const partHash = upload && new PartHashingStream(upload.partSize);
  const writer = createWriteStream(partial, { mode: 0o600 });
  const progress = setInterval(() => {
    upload?.grew(writer.bytesWritten, partHash?.checksums);
    options.onProgress?.(writer.bytesWritten);
  }, PROGRESS_INTERVAL_MS);

  const times: Partial<StepTimes> = {};
  const stamp =
    <T>(step: keyof StepTimes) =>
    (value: T) => {
      times[step] = elapsed();
      return value;
    };
  try {
    const [, , facts, tocEntries] = await Promise.all([
      pipeline(archive, archiveHash, new TeeTo(toc.input), plaintext, { signal }),
      sealer
        .seal(toSeal)
        .then((sealed) => pipeline(sealed, fileHash, ...(partHash ? [partHash] : []), writer, { signal }))
        .then(stamp('encryptMs')),
      dump.finished.then(stamp<DumpFacts>('dumpMs')),
      verified(toc.entries, dump.finished).then(stamp<number>('verifyMs')),
    ]).catch((error: unknown) => {
      failed.abort(error);
      throw error;
    });
    clearInterval(progress);
    upload?.grew(writer.bytesWritten, partHash?.checksums);
    await rename(partial, targetPath);
    return {
      archive: { bytes: archiveHash.bytes, sha256: archiveHash.digest(), tocEntries },
      ...(compressedHash
        ? { compressed: { bytes: compressedHash.bytes, sha256: compressedHash.digest() } }
        : {}),
      file: { bytes: fileHash.bytes, sha256: fileHash.digest() },
      facts,
      times: times as StepTimes,
    };
  } catch (error) {
    dump.archive.destroy();
    // Let pg_dump and pg_restore be reaped, whatever they say now: the first error is the one to report.
    await Promise.allSettled([dump.finished, toc.entries]);
    await discardPartial(writer, partial);
    throw ioFailure(error, 'EncryptionFailed', `cannot write ${partial}`, options.signal);
  } finally {
    clearInterval(progress);
  }
}

/**
 * When pg_dump fails, pg_restore sees a cut archive and often says so first: wait for pg_dump, and
 * report its error, which says what went wrong.
 */
async function verified(entries: Promise<number>, dumped: Promise<DumpFacts>): Promise<number> {
  try {
    return await entries;
  } catch (tocError) {
    await dumped;
    throw tocError;
  }
}

/**
 * Passes the stream through, and copies it to a side writer for as long as that one reads (pg_restore
 * --list stops after the table of contents). Waits when the side is full, so memory stays flat.
 */
class TeeTo extends Transform {
  constructor(private readonly side: Writable) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    if (!this.sideOpen() || this.side.write(chunk)) {
      callback(null, chunk);
      return;
    }
    const resume = () => {
      this.side.off('drain', resume).off('close', resume);
      callback(null, chunk);
    };
    this.side.on('drain', resume).on('close', resume);
  }

  override _flush(callback: TransformCallback) {
    if (this.sideOpen()) this.side.end();
    callback();
  }

  private sideOpen(): boolean {
    return !this.side.destroyed && !this.side.writableEnded;
  }
}
