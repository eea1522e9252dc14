import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseCompression } from '../../src/core/compression.js';
import { BackupError } from '../../src/core/errors.js';
import { compressorFor, type Compressor } from '../../src/stream/compression.js';
import { tempDir } from '../helpers/files.js';

// One contract, every compression driver: zstd (a stream stage, Debian's zstd binary), and the two
// whose stages hand the bytes on unchanged: gzip (pg_dump compresses) and none.

const drivers: [string, Compressor][] = ['zstd:3', 'gzip:6', 'none'].map((text) => [
  text,
  compressorFor(parseCompression(text)!),
]);

const MIB = 1024 * 1024;

/** Half random, half repetitive: something to compress, and something that does not. */
function sample(bytes: number): Buffer {
  const random = randomBytes(bytes / 2);
  return Buffer.concat([random, Buffer.alloc(bytes / 2, 'abcdefgh')]);
}

/** A source that makes its chunks as they are read, and counts how many were. */
function lazySource(chunks: number, chunkBytes: number): { stream: Readable; produced: () => number } {
  let produced = 0;
  const stream = Readable.from(
    (function* () {
      for (; produced < chunks;) {
        produced += 1;
        yield randomBytes(chunkBytes);
      }
    })(),
    { objectMode: false },
  );
  return { stream, produced: () => produced };
}

const all = async (stream: Readable) => Buffer.concat(await stream.toArray());

/** decompressToFile into a new file; what it threw (undefined when nothing) and the file's bytes. */
async function decompressedFile(compressor: Compressor, compressed: Readable, limitBytes: number) {
  const path = join(tempDir('decompressed'), 'archive');
  const file = await open(path, 'w', 0o600);
  const error = await compressor
    .decompressToFile(compressed, file.fd, limitBytes)
    .then(() => undefined)
    .finally(() => file.close())
    .catch((e: unknown) => e);
  return { error, bytes: readFileSync(path), path };
}

describe.each(drivers)('compression contract: %s', (_name, compressor) => {
  it('gives back the same bytes', async () => {
    const input = sample(3 * MIB + 17);
    const compressed = await all(compressor.compress(Readable.from([input])));
    const output = await all(compressor.decompress(Readable.from([compressed])));
    expect(output.equals(input)).toBe(true);
    if (compressor.stage) expect(compressed.length).toBeLessThan(input.length * 0.75);
    else expect(compressed.equals(input)).toBe(true);
  });

  it('gives back an empty stream as empty', async () => {
    const compressed = await all(compressor.compress(Readable.from([], { objectMode: false })));
    expect((await all(compressor.decompress(Readable.from([compressed])))).length).toBe(0);
  });

  it('streams: output comes before the input has all been read', async () => {
    const chunks = 64;
    const source = lazySource(chunks, MIB);
    const output = compressor.compress(source.stream);
    let producedAtFirstOutput = -1;
    for await (const chunk of output) {
      if (producedAtFirstOutput < 0 && (chunk as Buffer).length > 0)
        producedAtFirstOutput = source.produced();
    }
    expect(producedAtFirstOutput).toBeGreaterThan(0);
    expect(producedAtFirstOutput).toBeLessThan(chunks);
  });

  it('refuses a damaged stream with a typed error, or hands the bytes on unchanged', async () => {
    const input = sample(2 * MIB);
    const compressed = await all(compressor.compress(Readable.from([input])));
    const damaged = Buffer.from(compressed);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    const cut = compressed.subarray(0, Math.floor(compressed.length / 2));
    for (const bad of [damaged, cut, Buffer.from('not a compressed stream')]) {
      const read = all(compressor.decompress(Readable.from([bad])));
      if (!compressor.stage) {
        expect((await read).equals(bad)).toBe(true);
        continue;
      }
      const error = await read.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BackupError);
      expect((error as BackupError).kind).toBe('DecryptionFailed');
      expect((error as BackupError).message).toMatch(/^zstd cannot decompress the archive: /);
    }
  });

  it('writes the same bytes into a file, within a limit of exactly their size', async () => {
    const input = sample(3 * MIB + 17);
    const compressed = await all(compressor.compress(Readable.from([input])));
    const { error, bytes, path } = await decompressedFile(
      compressor,
      Readable.from([compressed]),
      input.length,
    );
    expect(error).toBeUndefined();
    expect(bytes.equals(input)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('refuses into a file a damaged stream, or the failure of its input', async () => {
    if (!compressor.stage) return;
    const compressed = await all(compressor.compress(Readable.from([sample(2 * MIB)])));
    const cut = compressed.subarray(0, Math.floor(compressed.length / 2));
    const damaged = await decompressedFile(compressor, Readable.from([cut]), 4 * MIB);
    expect(damaged.error).toMatchObject({ kind: 'DecryptionFailed' });
    expect((damaged.error as Error).message).toMatch(/^zstd cannot decompress the archive: /);
    const failing = Readable.from(
      (async function* () {
        yield compressed.subarray(0, 1024);
        throw new BackupError('DecryptionFailed', 'the input failed');
      })(),
      { objectMode: false },
    );
    const failed = await decompressedFile(compressor, failing, 4 * MIB);
    expect((failed.error as Error).message).toBe('the input failed');
  });

  it('passes the failure of its input on', async () => {
    const failing = Readable.from(
      (async function* () {
        yield Buffer.alloc(1024);
        throw new BackupError('DecryptionFailed', 'the input failed');
      })(),
      { objectMode: false },
    );
    await expect(all(compressor.decompress(failing))).rejects.toThrow('the input failed');
  });
});

describe('zstd', () => {
  it('stops a bomb at the limit: nothing past it is written', async () => {
    const zstd = compressorFor({ method: 'zstd', level: 3 });
    // 64 MiB of zeros compress to a few KiB.
    const bomb = await all(zstd.compress(Readable.from([Buffer.alloc(64 * MIB)])));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const { error, bytes } = await decompressedFile(zstd, Readable.from([bomb]), MIB);
    expect(error).toMatchObject({
      kind: 'DecryptionFailed',
      message: `the archive decompresses to more than the ${MIB} bytes the manifest says`,
    });
    expect(bytes.length).toBeLessThanOrEqual(MIB);
  });

  it('says plainly when the binary is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const zstd = compressorFor({ method: 'zstd', level: 3 });
      const error = await all(zstd.compress(Readable.from([Buffer.alloc(10)]))).catch((e: unknown) => e);
      expect(error).toMatchObject({
        kind: 'MissingDependency',
        message: 'zstd is not installed or not on PATH',
      });
      expect((error as BackupError).hint).toMatch(/scripts\/setup\.sh/);
    } finally {
      process.env.PATH = path;
    }
  });
});
