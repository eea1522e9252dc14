import { expect } from 'vitest';
import { BackupError } from '../../src/core/errors.js';

/** The typed error a promise rejects with; fails the test when it resolves or throws something else. */
export async function failureOf(promise: Promise<unknown>): Promise<BackupError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BackupError);
  return error as BackupError;
}
