// What a long step reports in its heartbeat details while it runs: the Temporal UI shows them on the
// pending activity, and `backupctl backup|restore --wait` reads them (describe) to draw its progress.

export interface StepProgress {
  /** The step that runs: dump, upload, fetch, decrypt, restore. */
  phase: string;
  /** Bytes done so far, when the step counts them (pg_restore does not). */
  bytes?: number;
  /** What bytes goes up to, when known: the file being uploaded or fetched. */
  totalBytes?: number;
  /**
   * pg_database_size, while dumping: the archive is compressed, so the bytes written never reach it
   * and no percentage is drawn from it; it says how big the work is.
   */
  databaseBytes?: number;
  /** Bytes an earlier attempt did (a resumed upload or download): not counted in the rate. */
  resumedBytes?: number;
  /** When this attempt began the step (ISO 8601): elapsed time and rate are counted from it. */
  startedAt: string;
}

/**
 * The progress in an activity's heartbeat details, or undefined for details that carry none (an
 * upload checkpoint from a release before progress, a heartbeat with no details).
 */
export function stepProgressOf(details: unknown): StepProgress | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as Record<string, unknown>;
  if (typeof d.phase !== 'string' || typeof d.startedAt !== 'string') return undefined;
  const number = (key: string) => (typeof d[key] === 'number' ? { [key]: d[key] } : {});
  return {
    phase: d.phase,
    startedAt: d.startedAt,
    ...number('bytes'),
    ...number('totalBytes'),
    ...number('databaseBytes'),
    ...number('resumedBytes'),
  };
}
