import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformOptions } from 'node:stream';

/** A pass-through stage that counts bytes and computes their SHA-256 (hex) on the way. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(options?: TransformOptions) {
    super(options);
  }

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

/**
 * A pass-through stage that also hashes each partSize slice (base64 SHA-256, as S3 takes it), so an
 * upload that follows the file need not read each part again to checksum it.
 */
export class PartHashingStream extends Transform {
  readonly checksums: string[] = [];
  private hash: Hash = createHash('sha256');
  private filled = 0;

  constructor(private readonly partSize: number) {
    super();
  }

  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null, data?: Buffer) => void,
  ) {
    for (let offset = 0; offset < chunk.length;) {
      const take = Math.min(this.partSize - this.filled, chunk.length - offset);
      this.hash.update(chunk.subarray(offset, offset + take));
      this.filled += take;
      offset += take;
      if (this.filled === this.partSize) {
        this.checksums.push(this.hash.digest('base64'));
        this.hash = createHash('sha256');
        this.filled = 0;
      }
    }
    callback(null, chunk);
  }
}
