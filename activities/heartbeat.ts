import { Context } from '@temporalio/activity';

/** A heartbeat every few seconds, whatever the work reports: a slow part is not a dead worker. */
const HEARTBEAT_INTERVAL_MS = 3_000;

/**
 * Runs work that reports progress through record(). The latest details are re-sent on a timer, so
 * the checkpoint an earlier attempt left is never overwritten by an empty heartbeat.
 */
export async function heartbeating<T>(
  work: (record: (details: unknown) => void) => Promise<T>,
  initialDetails?: unknown,
): Promise<T> {
  const context = Context.current();
  let latest: unknown = context.info.heartbeatDetails ?? initialDetails;
  const timer = setInterval(() => context.heartbeat(latest), HEARTBEAT_INTERVAL_MS);
  try {
    return await work((details) => {
      latest = details;
      context.heartbeat(details);
    });
  } finally {
    clearInterval(timer);
  }
}
