// The benchmark's cleanup stack: each step registers how to undo what it set up, and everything
// is undone in reverse order at the end, on failure and on SIGINT/SIGTERM.
import { log } from './util.mjs';

/** [what, async work] pairs; push as soon as something exists that must go. */
export const cleanups = [];

export async function runCleanups() {
  while (cleanups.length > 0) {
    const [what, work] = cleanups.pop();
    try {
      await work();
    } catch (error) {
      log(`cleanup: ${what} failed: ${error.message}`);
    }
  }
}
