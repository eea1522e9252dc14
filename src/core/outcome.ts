// What every run reports when it ends, to the metrics and the failure notification, and what a DR
// drill leaves behind. Pure types, shared by workflows, activities, the CLI and health checks.

export const RUN_KINDS = [
  'backup',
  'restore',
  'retention',
  'drill',
  'reread',
  'rekey',
  'pitr-backup',
] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/** Reported once by each run at its end (success or failure): the reportRun activity receives it. */
export interface RunOutcome {
  kind: RunKind;
  database: string;
  workflowId: string;
  ok: boolean;
  durationMs: number;
  /** The error kind (ERROR_KINDS) and message of a failed run; never a secret. */
  errorKind?: string;
  error?: string;
  /** backup: bytes sent to the bucket; the stored file's size. */
  bytesUploaded?: number;
  fileBytes?: number;
  /** drill, restore: the measured RTO (phases without the wait for approval). */
  rtoMs?: number;
  /** retention: unfinished multipart uploads found (and aborted). */
  staleUploads?: number;
  /** reread: backups read, and those that failed. */
  checked?: number;
  failed?: number;
}

/** A DR drill's report: BACKUP_DIR/reports/drill-<YYYYMMDD-HHMMSS>-<run>.json (see writeDrillReport). */
export interface DrillReport {
  database: string;
  workflowId: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  backup?: { key: string; createdAt: string; fileBytes: number };
  scratchDatabase: string;
  /** Each phase of the restore with its time, as the restore reported it. */
  phases: { phase: string; durationMs: number; detail: string }[];
  rtoMs?: number;
  rtoTargetMs: number;
  withinTarget: boolean;
  /** True once the scratch database is gone (also after a failed step). */
  scratchDropped: boolean;
  error?: string;
  /** A PITR drill's (pitrDrillWorkflow): the moment recovered to, and the achieved RPO. */
  pitr?: PitrDrillFacts;
}

/** The achieved RPO: the moment recovered to less the newest heartbeat recovered. */
export interface PitrDrillFacts {
  /** The moment (ISO) recovered to: now less the drill's lag. */
  target: string;
  /** The base backup pgBackRest restored. */
  baseBackup?: string;
  /** The newest durable_backup.heartbeat beat in the recovered server. */
  newestBeat?: string;
  rpoMs?: number;
  rpoTargetMs: number;
  withinRpo: boolean;
}

export const REPORTS_FOLDER = 'reports';
export const DRILL_REPORT_PREFIX = 'drill-';
