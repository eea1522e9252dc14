import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { BackupError } from '../src/core/errors.js';
import { redact } from '../src/core/redact.js';

/**
 * Runs an activity's work and turns whatever it throws into an ApplicationFailure whose type is our
 * error kind (so the CLI maps it to an exit code) and whose message carries no secret. Errors we did
 * not type stay retryable as 'General'. Must be called inside an activity.
 */
export async function asActivity<T>(secrets: string[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    // Cancelled (or timed out, or the worker is stopping): report that, not the abort it caused.
    const { cancellationSignal } = Context.current();
    if (cancellationSignal.aborted) throw cancellationSignal.reason ?? error;
    throw toFailure(error, secrets);
  }
}

export function toFailure(error: unknown, secrets: string[]): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const typed = error instanceof BackupError ? error : undefined;
  const message = redact(error instanceof Error ? error.message : String(error), secrets);
  return ApplicationFailure.create({
    type: typed?.kind ?? 'General',
    message,
    nonRetryable: typed ? !typed.retryable : false,
    details: typed ? [redact(typed.hint, secrets)] : [],
  });
}

/**
 * The failure, carrying what the activity's steps did before it failed (details[1]) for the workflow
 * to record; the hint stays details[0]. Anything else (a cancellation) passes as it is.
 */
export function withStepsDone(error: unknown, done: object): unknown {
  if (!(error instanceof ApplicationFailure)) return error;
  return ApplicationFailure.create({
    type: error.type ?? undefined,
    message: error.message,
    nonRetryable: error.nonRetryable ?? undefined,
    details: [error.details?.[0], done],
  });
}
