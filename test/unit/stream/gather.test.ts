import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Gather } from '../../../src/stream/gather.js';

async function gather(chunks: Buffer[], size: number): Promise<Buffer[]> {
  const seen: Buffer[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, done) => (seen.push(chunk), done()) });
  await pipeline(Readable.from(chunks), new Gather(size), sink);
  return seen;
}

describe('gathering chunks', () => {
  it('keeps every byte in order, in chunks of exactly the size but the last, each on memory of its own', async () => {
    const data = randomBytes(2500);
    const seen = await gather([data.subarray(0, 7), data.subarray(7, 1999), data.subarray(1999)], 1000);
    expect(seen.map((c) => c.length)).toEqual([1000, 1000, 500]);
    expect(Buffer.concat(seen)).toEqual(data);
    expect(new Set(seen.map((c) => c.buffer)).size).toBe(3);
    for (const chunk of seen.slice(0, 2)) {
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.buffer.byteLength).toBe(1000);
    }
  });

  it('passes nothing on for an empty stream', async () => {
    expect(await gather([], 1000)).toEqual([]);
  });
});
