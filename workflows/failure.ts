// Failures as workflows see and raise them: our error kinds (src/core/errors.ts) on Temporal's
// ApplicationFailure, which the client turns back into a BackupError with its exit code.
import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure } from '@temporalio/workflow';
import { isErrorKind, type ErrorKind } from '../src/core/errors.js';

/** The message a person should read: an activity's own failure rather than Temporal's wrappers. */
export function describeFailure(error: unknown): string {
  if (error instanceof ChildWorkflowFailure && error.cause) return describeFailure(error.cause);
  if (error instanceof ActivityFailure && error.cause) return error.cause.message;
  if (error instanceof ApplicationFailure || error instanceof Error) return error.message;
  return String(error);
}

/**
 * The type of the ApplicationFailure an activity (or this workflow) threw: our error kind (ERROR_KINDS)
 * as a rule, passed on as it came; undefined for anything else, such as a timeout or a cancellation.
 */
export function failureKind(error: unknown): ErrorKind | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure && isErrorKind(cause.type) ? cause.type : undefined;
}

/** Whether an activity (or this workflow) failed with that kind. */
export function failedWith(error: unknown, kind: ErrorKind): boolean {
  return failureKind(error) === kind;
}

/** A failure no retry can mend, of one of our kinds; `details[0]`, a string, is the hint the CLI prints. */
export function kindedFailure(kind: ErrorKind, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type: kind, nonRetryable: true, message, details });
}

/**
 * An upload that failed once the local copy was made a complete backup (local manifest): the same
 * failure, kind and hint, saying that copy is kept and where, so that an operator reading "exit 6"
 * knows the database is backed up on this host. Anything not of our kinds (a cancellation) passes.
 */
export function withLocalCopyKept(error: unknown, localPath: string): unknown {
  const kind = failureKind(error);
  if (!kind) return error;
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const hint = cause instanceof ApplicationFailure ? cause.details?.[0] : undefined;
  const message = `${describeFailure(error)}; the local copy is kept, complete: ${localPath}`;
  return kindedFailure(kind, message, typeof hint === 'string' ? [hint] : undefined);
}
