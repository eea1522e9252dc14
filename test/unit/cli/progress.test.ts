import { describe, expect, it } from 'vitest';
import { formatElapsed, formatRate, formatStepProgress } from '../../../src/cli/format.js';
import { PERIODIC_LINE_MS, ProgressDisplay } from '../../../src/cli/progress.js';
import { bytesInParts } from '../../../src/core/parts.js';
import { stepProgressOf, type StepProgress } from '../../../src/core/progress.js';

const MIB = 1024 * 1024;
const START = Date.parse('2026-03-15T09:30:00Z');
const startedAt = new Date(START).toISOString();

describe('elapsed time and rate', () => {
  it('shows minutes and seconds, and hours once it takes them', () => {
    expect(formatElapsed(0)).toBe('0:00');
    expect(formatElapsed(7_900)).toBe('0:07');
    expect(formatElapsed(65_000)).toBe('1:05');
    expect(formatElapsed(3_723_000)).toBe('1:02:03');
    // A worker's clock a little ahead of this host's: no negative time.
    expect(formatElapsed(-1_500)).toBe('0:00');
  });

  it('gives bytes per second, but not within the first second', () => {
    expect(formatRate(12 * MIB, 4_000)).toBe('3.0 MiB/s');
    expect(formatRate(500, 2_000)).toBe('250 B/s');
    expect(formatRate(5 * MIB, 999)).toBeUndefined();
  });
});

describe('the line of a running step', () => {
  it('puts a dump beside the database size: the archive is compressed, so no percentage', () => {
    const dump: StepProgress = { phase: 'dump', bytes: 12 * MIB, databaseBytes: 45 * MIB, startedAt };
    expect(formatStepProgress(dump, START + 4_000)).toBe(
      '  ...  dump     12.0 MiB written (database 45.0 MiB), 3.0 MiB/s, 0:04 elapsed',
    );
  });

  it('gives an upload or a fetch its share of the file, and counts only this attempt in the rate', () => {
    const upload: StepProgress = {
      phase: 'upload',
      bytes: 48 * MIB,
      totalBytes: 64 * MIB,
      resumedBytes: 32 * MIB,
      startedAt,
    };
    expect(formatStepProgress(upload, START + 8_000)).toBe(
      '  ...  upload   48.0 MiB of 64.0 MiB (75 %), 2.0 MiB/s, 0:08 elapsed',
    );
  });

  it('shows only the time of a step that counts no bytes (pg_restore)', () => {
    expect(formatStepProgress({ phase: 'restore', startedAt }, START + 75_000)).toBe(
      '  ...  restore  1:15 elapsed',
    );
  });
});

describe('heartbeat details', () => {
  it('read as progress when they carry a phase and a start, whatever else is beside them', () => {
    const checkpoint = { key: 'k', uploadId: 'u', partSize: 16, size: 40, parts: [] };
    expect(stepProgressOf({ ...checkpoint, phase: 'upload', bytes: 16, totalBytes: 40, startedAt })).toEqual({
      phase: 'upload',
      bytes: 16,
      totalBytes: 40,
      startedAt,
    });
    // Before progress: a bare checkpoint, the dump's { bytes }, nothing.
    expect(stepProgressOf(checkpoint)).toBeUndefined();
    expect(stepProgressOf({ bytes: 5 })).toBeUndefined();
    expect(stepProgressOf(undefined)).toBeUndefined();
  });

  it('count an upload by the parts sent: all of partSize but the last', () => {
    expect(bytesInParts(40, 16, [1, 3])).toBe(16 + 8);
    expect(bytesInParts(40, 16, [])).toBe(0);
  });
});

/** A stream that keeps what is written, as a terminal (with its width) or as a log. */
function stream(isTTY: boolean) {
  const written: string[] = [];
  return { written, out: { isTTY, columns: isTTY ? 60 : undefined, write: (t: string) => written.push(t) } };
}

describe('the progress display', () => {
  const dumpAt = (bytes: number): StepProgress => ({ phase: 'dump', bytes, startedAt });

  it('redraws one line in place on a terminal, under the lines that stay, and clears it at the end', () => {
    let now = START + 2_000;
    const { out, written } = stream(true);
    const display = new ProgressDisplay(out, () => now);
    display.running([], '  ...  dump');
    display.running([dumpAt(4 * MIB)]);
    display.line('  done plan     daily backup');
    now += 2_000;
    display.running([dumpAt(12 * MIB)]);
    display.end();
    expect(written.join('')).toBe(
      [
        '\r\x1b[K  ...  dump',
        '\r\x1b[K  ...  dump     4.0 MiB written, 2.0 MiB/s, 0:02 elapsed',
        '\r\x1b[K  done plan     daily backup\n  ...  dump     4.0 MiB written, 2.0 MiB/s, 0:02 elapsed',
        '\r\x1b[K  ...  dump     12.0 MiB written, 3.0 MiB/s, 0:04 elapsed',
        '\r\x1b[K',
      ].join(''),
    );
  });

  it("cuts the line to the terminal's width: a wrapped line would be redrawn only in its last row", () => {
    const { out, written } = stream(true);
    new ProgressDisplay({ ...out, columns: 20 }, () => START + 2_000).running([dumpAt(4 * MIB)]);
    expect(written).toEqual(['\r\x1b[K  ...  dump     4.0']); // 19 characters: one less than the width
  });

  it('prints a line every PERIODIC_LINE_MS of a step in a log: a short step adds nothing', () => {
    let now = START;
    const { out, written } = stream(false);
    const display = new ProgressDisplay(out, () => now);
    for (; now < START + 25_000; now += 2_000)
      display.running([dumpAt(((now - START) / 1000) * MIB)], '  ...  dump');
    display.line('  done dump     25.0 s');
    display.end();
    expect(PERIODIC_LINE_MS).toBe(10_000);
    expect(written).toEqual([
      '  ...  dump     10.0 MiB written, 1.0 MiB/s, 0:10 elapsed\n',
      '  ...  dump     20.0 MiB written, 1.0 MiB/s, 0:20 elapsed\n',
      '  done dump     25.0 s\n',
    ]);
  });
});
