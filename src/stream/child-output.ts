import { Readable } from 'node:stream';

/** A running tool as execa starts it: its output, a way to stop it, and its result. */
interface Child<R> extends PromiseLike<R> {
  readonly stdout: Readable | null;
  kill(): boolean;
}

/**
 * A tool's stdout as a stream that ends only once the tool exited and `check` accepted its result
 * (check throws to fail the stream). A reader that stops early (an abort, a failure further on) stops
 * the tool; one whose output ended is not killed: it may not have been reaped yet, and killed then, a
 * clean run would fail.
 */
export function outputUntilExit<R>(child: Child<R>, check: (result: R) => void): Readable {
  return Readable.from(
    (async function* () {
      let read = false;
      try {
        yield* child.stdout!;
        read = true;
      } finally {
        if (!read) child.kill();
      }
      check(await child);
    })(),
    { objectMode: false },
  );
}
