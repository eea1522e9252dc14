import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type QueryDefinition } from '@temporalio/common';
import { BackupError, isErrorKind } from '../core/errors.js';
import { stepProgressOf, type StepProgress } from '../core/progress.js';

// What every kind of run shares on the client side: its workflow id, and the wait for its result.
// index.ts re-exports these for the public API; the start and wait functions of each kind use them.

/** A database name as it may stand in a workflow or schedule id. */
export function safeIdPart(database: string): string {
  return database.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** <kind>-<database>[-<label>]-YYYYMMDD-HHMMSS-<nonce>: readable in the UI, unique per start. */
export function workflowId(kind: string, database: string, label?: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const nonce = Math.random().toString(36).slice(2, 6);
  return [kind, safeIdPart(database), label, stamp, nonce].filter(Boolean).join('-');
}

/** A run's result; its failure becomes a BackupError of the failing step's kind (hence exit code). */
export async function resultOf<R>(handle: WorkflowHandle): Promise<R> {
  try {
    return (await handle.result()) as R;
  } catch (error) {
    throw toBackupError(error);
  }
}

/**
 * A run's result, with a query polled meanwhile for whoever watches (onChange), and the progress its
 * running steps report (onRunning); failures become BackupErrors.
 */
export async function waitWatching<R, Q>(
  handle: WorkflowHandle,
  query: QueryDefinition<Q>,
  onChange?: (value: Q) => void,
  onRunning?: (steps: StepProgress[]) => void,
): Promise<R> {
  const polls = [
    onChange && watchQuery(handle, query, onChange),
    // Every reading is reported, changed or not: the elapsed time goes on.
    onRunning && polling(() => runningSteps(handle), onRunning),
  ];
  try {
    return await resultOf<R>(handle);
  } finally {
    for (const poll of polls) poll?.stop();
  }
}

/**
 * What the run's activities report while they run (their heartbeat details, see StepProgress):
 * read from the server (describe), so no worker is asked. Details without progress are left out.
 */
export async function runningSteps(handle: WorkflowHandle): Promise<StepProgress[]> {
  const { raw } = await handle.describe();
  return (raw.pendingActivities ?? []).flatMap((activity) => {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    const progress = payload ? stepProgressOf(defaultPayloadConverter.fromPayload(payload)) : undefined;
    return progress ? [progress] : [];
  });
}

/** Each poll is a query the worker answers, or a describe the server answers: often enough for a person. */
const PROGRESS_POLL_MS = 2_000;

/** Asks a query every few seconds and reports each answer that differs from the last. */
export function watchQuery<T>(
  handle: WorkflowHandle,
  query: QueryDefinition<T>,
  onChange: (value: T) => void,
) {
  let last = '';
  return polling(
    () => handle.query(query),
    (value) => {
      const key = JSON.stringify(value);
      if (key !== last) onChange(value);
      last = key;
    },
  );
}

/** Calls read every PROGRESS_POLL_MS and hands on each answer until stopped; failed reads are skipped. */
function polling<T>(read: () => Promise<T>, onAnswer: (value: T) => void) {
  let stopped = false;
  const timer = setInterval(() => {
    read().then(
      (value) => {
        // An answer that comes after stop() would print progress after the run's result or error.
        if (!stopped) onAnswer(value);
      },
      () => undefined,
    );
  }, PROGRESS_POLL_MS);
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** The root ApplicationFailure of a failed workflow, as our typed error. */
export function toBackupError(error: unknown): unknown {
  if (!(error instanceof WorkflowFailedError)) return error;
  let cause: unknown = error.cause;
  while (
    cause instanceof Error &&
    !(cause instanceof ApplicationFailure && isErrorKind(cause.type)) &&
    cause.cause
  ) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure && isErrorKind(cause.type)) {
    const hint = typeof cause.details?.[0] === 'string' ? cause.details[0] : undefined;
    return new BackupError(cause.type, cause.message, { hint });
  }
  return new BackupError('General', (cause as Error | undefined)?.message ?? error.message);
}
