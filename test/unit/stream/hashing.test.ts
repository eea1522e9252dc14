import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashingStream, PartHashingStream } from '../../../src/stream/hashing.js';

const sha256 = (data: Buffer, encoding: 'hex' | 'base64') =>
  createHash('sha256').update(data).digest(encoding);

describe('hashing stages', () => {
  it('hash the whole stream and each complete part, whatever the chunking', async () => {
    const data = randomBytes(2500);
    const chunks = [data.subarray(0, 7), data.subarray(7, 1999), data.subarray(1999)];
    const whole = new HashingStream();
    const parts = new PartHashingStream(1000);
    const seen: Buffer[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, done) => (seen.push(chunk), done()) });
    await pipeline(Readable.from(chunks), whole, parts, sink);
    expect(Buffer.concat(seen)).toEqual(data);
    expect(whole.bytes).toBe(2500);
    expect(whole.digest()).toBe(sha256(data, 'hex'));
    // The last, partial part is not complete: the uploader hashes it itself.
    expect(parts.checksums).toEqual([
      sha256(data.subarray(0, 1000), 'base64'),
      sha256(data.subarray(1000, 2000), 'base64'),
    ]);
  });
});
