import type { StepProgress } from '../core/progress.js';
import { formatStepProgress } from './format.js';

// How `backup --wait` and `restore --wait` show a run as it goes, on stderr: the lines that stay
// (started, done <step>, the plan), and the progress of the step that runs. On a terminal that is
// one line redrawn in place; in a log, where a redrawn line would be a heap of carriage returns, it
// is a line every PERIODIC_LINE_MS of a step, so a short step adds nothing and a long one is seen.

/** How often a long step prints its progress when stderr is not a terminal. */
export const PERIODIC_LINE_MS = 10_000;

/** Back to the start of the line, and clear it (ANSI EL). */
const CLEAR_LINE = '\r\x1b[K';

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  /** A terminal's width: a longer line would wrap, and \r would redraw only its last row. */
  columns?: number;
}

export class ProgressDisplay {
  /** On a terminal: the progress line drawn now, under the lines that stay. */
  private drawn = '';
  /** In a log: when each step (phase and start) last printed its line. */
  private printedAt = new Map<string, number>();

  constructor(
    private readonly out: ProgressStream,
    private readonly now: () => number = Date.now,
  ) {}

  /** A line that stays: on a terminal, above the progress line, which is drawn again under it. */
  line(text: string): void {
    if (this.out.isTTY && this.drawn) this.out.write(CLEAR_LINE);
    this.out.write(`${text}\n`);
    if (this.out.isTTY && this.drawn) this.out.write(this.drawn);
  }

  /**
   * The progress the running steps report. On a terminal, waiting (such as `  ...  dump`) is drawn
   * while no step has reported yet.
   */
  running(steps: StepProgress[], waiting?: string): void {
    const now = this.now();
    if (this.out.isTTY) {
      const text = (steps[0] ? formatStepProgress(steps[0], now) : (waiting ?? '')).slice(
        0,
        this.out.columns ? this.out.columns - 1 : undefined,
      );
      if (text !== this.drawn) this.out.write(`${CLEAR_LINE}${text}`);
      this.drawn = text;
      return;
    }
    for (const step of steps) {
      const key = `${step.phase} ${step.startedAt}`;
      const last = this.printedAt.get(key) ?? Date.parse(step.startedAt);
      if (now - last < PERIODIC_LINE_MS) continue;
      this.printedAt.set(key, now);
      this.out.write(`${formatStepProgress(step, now)}\n`);
    }
  }

  /** Clears the progress line, before the result is printed. */
  end(): void {
    if (this.out.isTTY && this.drawn) this.out.write(CLEAR_LINE);
    this.drawn = '';
  }
}
