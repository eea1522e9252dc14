import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
} from '@temporalio/client';
import { safeIdPart } from '../client/runs.js';
import type { Config } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import {
  BACKUP_WORKFLOW,
  DATABASE_ATTRIBUTE,
  DRILL_WORKFLOW,
  PITR_BACKUP_WORKFLOW,
  PITR_DRILL_WORKFLOW,
  REREAD_WORKFLOW,
  RETENTION_WORKFLOW,
} from '../temporal/names.js';

// Temporal Schedules for one database: a nightly backup, a retention sweep, a daily DR drill, a
// monthly re-read and, with PITR=pgbackrest, a weekly full and a daily differential physical backup, kept in line with the configuration by applySchedules. Pure parts (what we want, what differs) first, then the I/O.

export const SCHEDULE_KINDS = [
  'backup',
  'retention',
  'drill',
  'reread',
  'pitr-full',
  'pitr-diff',
  'pitr-drill',
] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

/** The PITR schedules (physical backups, the PITR drill): only for a database with PITR=pgbackrest. */
const PITR_KINDS: readonly ScheduleKind[] = ['pitr-full', 'pitr-diff', 'pitr-drill'];

/** The kinds of schedule this database has: the PITR ones only with PITR on. */
export function scheduleKindsOf(config: Config): ScheduleKind[] {
  return SCHEDULE_KINDS.filter((kind) => config.pitr || !PITR_KINDS.includes(kind));
}

/** Marks the schedules this program manages, for anyone reading them in the UI or the CLI. */
export const MANAGED_BY = 'durable-backup';

export interface DesiredSchedule {
  kind: ScheduleKind;
  cron: string;
  options: ScheduleOptions;
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

export interface ApplyResult {
  id: string;
  kind: ScheduleKind;
  outcome: ApplyOutcome;
  /** The fields that differed from the configuration (for 'updated'). */
  changes: string[];
}

export interface ScheduleStatus {
  id: string;
  kind: ScheduleKind;
  state: 'active' | 'paused' | 'missing';
  note?: string;
  cron?: string;
  timeZone?: string;
  /** Runs start up to this many minutes after their time, at random (BACKUP_SCHEDULE_JITTER_MINUTES). */
  jitterMinutes?: number;
  nextRuns: Date[];
  recentRuns: { scheduledAt: Date; takenAt: Date; workflowId: string }[];
  running: number;
}

export function scheduleId(kind: ScheduleKind, database: string): string {
  return `${kind}-${safeIdPart(database)}`;
}

/** The schedules the configuration asks for, one of each kind (the physical backups' with PITR on). */
export function desiredSchedules(config: Config): DesiredSchedule[] {
  const { backupCron, retentionCron, drillCron, rereadCron } = config.schedules;
  const schedules = [
    desiredSchedule(config, 'backup', backupCron, BACKUP_WORKFLOW, 'Scheduled backup'),
    desiredSchedule(config, 'retention', retentionCron, RETENTION_WORKFLOW, 'Retention sweep'),
    desiredSchedule(config, 'drill', drillCron, DRILL_WORKFLOW, 'DR drill'),
    desiredSchedule(config, 'reread', rereadCron, REREAD_WORKFLOW, 'Re-read of the backups'),
  ];
  if (!config.pitr) return schedules;
  const { fullCron, diffCron } = config.pitr.schedules;
  return [
    ...schedules,
    desiredSchedule(config, 'pitr-full', fullCron, PITR_BACKUP_WORKFLOW, 'Physical full backup', {
      type: 'full',
    }),
    desiredSchedule(config, 'pitr-diff', diffCron, PITR_BACKUP_WORKFLOW, 'Physical differential backup', {
      type: 'diff',
    }),
    desiredSchedule(config, 'pitr-drill', config.pitr.schedules.drillCron, PITR_DRILL_WORKFLOW, 'PITR drill'),
  ];
}

function desiredSchedule(
  config: Config,
  kind: ScheduleKind,
  cron: string,
  workflowType: string,
  summary: string,
  request: Record<string, string> = {},
): DesiredSchedule {
  const database = config.database.name;
  const id = scheduleId(kind, database);
  const searchAttributes = [{ key: DATABASE_ATTRIBUTE, value: database }];
  return {
    kind,
    cron,
    options: {
      scheduleId: id,
      // The server turns a cron string into calendars and forgets it; the text after # survives as the
      // calendar's comment, so apply can compare the expression exactly and list can show it.
      spec: {
        cronExpressions: [`${cron} # ${cron}`],
        timezone: config.schedules.timeZone,
        jitter: kind === 'backup' ? jitterMs(config) : undefined,
      },
      action: {
        type: 'startWorkflow',
        workflowType,
        taskQueue: config.temporal.taskQueue,
        args: [{ database: config.database.name, ...request }],
        // The schedule appends the scheduled time to this prefix.
        workflowId: `scheduled-${id}`,
        typedSearchAttributes: searchAttributes,
        staticSummary: `${summary} of ${database}`,
      },
      policies: {
        overlap: ScheduleOverlapPolicy.SKIP,
        catchupWindow: config.schedules.catchupWindowMinutes * 60_000,
      },
      memo: { managedBy: MANAGED_BY, database },
      typedSearchAttributes: searchAttributes,
    },
  };
}

/** BACKUP_SCHEDULE_JITTER_MINUTES in ms, undefined for none (as the server describes a schedule without). */
function jitterMs(config: Config): number | undefined {
  return config.schedules.backupJitterMinutes * 60_000 || undefined;
}

/** The cron expression a schedule was made from: the comment desiredSchedule leaves on its one calendar. */
export function cronOf(description: Pick<ScheduleDescription, 'spec'>): string | undefined {
  const { calendars = [], intervals = [] } = description.spec;
  if (calendars.length !== 1 || intervals.length !== 0) return undefined;
  return calendars[0]!.comment || undefined;
}

/** The names of the fields where the existing schedule differs from the desired one; empty if none. */
export function scheduleChanges(existing: ScheduleDescription, desired: DesiredSchedule): string[] {
  const { spec, action, policies } = desired.options;
  const checks: [string, unknown, unknown][] = [
    ['cron', cronOf(existing), desired.cron],
    ['timezone', existing.spec.timezone, spec.timezone],
    ['jitter', existing.spec.jitter || 0, Number(spec.jitter ?? 0)],
    ['workflowType', existing.action.workflowType, action.workflowType],
    ['taskQueue', existing.action.taskQueue, action.taskQueue],
    ['workflowId', existing.action.workflowId, action.workflowId],
    ['args', JSON.stringify(existing.action.args), JSON.stringify(action.args)],
    ['overlap', existing.policies.overlap, policies?.overlap],
    ['catchupWindow', existing.policies.catchupWindow, policies?.catchupWindow],
  ];
  return checks.filter(([, was, wanted]) => was !== wanted).map(([name]) => name);
}

/**
 * Creates the missing schedules and updates those that differ from the configuration; the rest are not
 * written at all (an update would bump their update time even with nothing changed). An operator's
 * pause, its note and any action limit survive an update.
 */
export async function applySchedules(client: Client, config: Config): Promise<ApplyResult[]> {
  const results: ApplyResult[] = [];
  for (const desired of desiredSchedules(config)) results.push(await applySchedule(client, desired));
  return results;
}

async function applySchedule(client: Client, desired: DesiredSchedule): Promise<ApplyResult> {
  const { scheduleId: id, spec, action, policies, typedSearchAttributes } = desired.options;
  const result = { id, kind: desired.kind };
  const handle = client.schedule.getHandle(id);
  const existing = await describeIfExists(handle);
  if (!existing) {
    await client.schedule.create(desired.options);
    return { ...result, outcome: 'created', changes: [] };
  }
  const changes = scheduleChanges(existing, desired);
  if (changes.length === 0) return { ...result, outcome: 'unchanged', changes };
  await handle.update((previous) => ({
    spec,
    action,
    policies,
    typedSearchAttributes,
    state: {
      paused: previous.state.paused,
      note: previous.state.note,
      remainingActions: previous.state.remainingActions,
    },
  }));
  return { ...result, outcome: 'updated', changes };
}

/** Each of this database's schedules as it is now, 'missing' for one not applied yet. */
export async function listSchedules(client: Client, config: Config): Promise<ScheduleStatus[]> {
  return Promise.all(
    scheduleKindsOf(config).map(async (kind) => {
      const id = scheduleId(kind, config.database.name);
      const description = await describeIfExists(client.schedule.getHandle(id));
      return description ? statusOf(kind, description) : missingStatus(id, kind);
    }),
  );
}

function statusOf(kind: ScheduleKind, d: ScheduleDescription): ScheduleStatus {
  return {
    id: d.scheduleId,
    kind,
    state: d.state.paused ? 'paused' : 'active',
    note: d.state.note || undefined,
    cron: cronOf(d),
    timeZone: d.spec.timezone,
    jitterMinutes: (d.spec.jitter ?? 0) / 60_000,
    nextRuns: d.info.nextActionTimes,
    recentRuns: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt,
      takenAt: a.takenAt,
      workflowId: a.action.workflow.workflowId,
    })),
    running: d.info.runningActions.length,
  };
}

function missingStatus(id: string, kind: ScheduleKind): ScheduleStatus {
  return { id, kind, state: 'missing', nextRuns: [], recentRuns: [], running: 0 };
}

export function pauseSchedules(client: Client, config: Config, kind?: ScheduleKind, note?: string) {
  return onSchedules(client, config, kind, (h) => h.pause(note ?? 'paused with backupctl schedules pause'));
}

export function unpauseSchedules(client: Client, config: Config, kind?: ScheduleKind) {
  return onSchedules(client, config, kind, (h) => h.unpause('unpaused with backupctl schedules unpause'));
}

/** Starts the workflow now, even if a scheduled run is still going: an operator asked for it. */
export function triggerSchedules(client: Client, config: Config, kind?: ScheduleKind) {
  return onSchedules(client, config, kind, (h) => h.trigger(ScheduleOverlapPolicy.ALLOW_ALL));
}

export function deleteSchedules(client: Client, config: Config, kind?: ScheduleKind) {
  return onSchedules(client, config, kind, (h) => h.delete());
}

/**
 * Runs act on the schedule of that kind, or on all of them; returns their ids. Every one must exist before
 * any is touched, so a missing schedule fails the command without half doing it.
 */
async function onSchedules(
  client: Client,
  config: Config,
  kind: ScheduleKind | undefined,
  act: (handle: ScheduleHandle) => Promise<void>,
): Promise<string[]> {
  const kinds = kind ? [kind] : scheduleKindsOf(config);
  const handles = kinds.map((k) => client.schedule.getHandle(scheduleId(k, config.database.name)));
  for (const handle of handles) {
    if (!(await describeIfExists(handle))) throw missingSchedule(handle.scheduleId);
  }
  for (const handle of handles) await act(handle);
  return handles.map((h) => h.scheduleId);
}

async function describeIfExists(handle: ScheduleHandle): Promise<ScheduleDescription | undefined> {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

function missingSchedule(id: string): BackupError {
  return new BackupError('Configuration', `schedule ${id} does not exist; run backupctl schedules apply`, {
    hint: 'backupctl schedules list shows which schedules this database has',
  });
}
