// Multipart sizing: S3 allows at most 10,000 parts of at least 5 MiB (but the last).

export const MAX_PARTS = 10_000;
const MIB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MIB;
export const DEFAULT_PART_SIZE = 16 * MIB;

/** The part size for an object: the default, grown in whole MiB so that any size fits in 10,000 parts. */
export function choosePartSize(objectSize: number, preferred = DEFAULT_PART_SIZE): number {
  const floor = Math.max(preferred, MIN_PART_SIZE);
  const needed = Math.ceil(objectSize / MAX_PARTS / MIB) * MIB;
  return Math.max(floor, needed);
}

export interface PartRange {
  partNumber: number;
  start: number;
  /** Inclusive, as fs.createReadStream takes it. */
  end: number;
}

export function partRanges(objectSize: number, partSize: number): PartRange[] {
  const count = Math.max(1, Math.ceil(objectSize / partSize));
  return Array.from({ length: count }, (_, i) => ({
    partNumber: i + 1,
    start: i * partSize,
    end: Math.min(objectSize, (i + 1) * partSize) - 1,
  }));
}

/** The bytes the given parts hold: every part is partSize long, but the last, which holds the rest. */
export function bytesInParts(objectSize: number, partSize: number, partNumbers: number[]): number {
  return partNumbers.reduce(
    (sum, n) => sum + Math.max(0, Math.min(partSize, objectSize - (n - 1) * partSize)),
    0,
  );
}
