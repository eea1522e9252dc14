import type { Client } from '@temporalio/client';
import { Argument, type Command } from 'commander';
import { connectClient } from '../client/index.js';
import { formatTable } from './format.js';
import type { Config } from '../config/index.js';
import {
  SCHEDULE_KINDS,
  applySchedules,
  deleteSchedules,
  listSchedules,
  pauseSchedules,
  triggerSchedules,
  unpauseSchedules,
  type ScheduleKind,
  type ScheduleStatus,
} from '../schedules/index.js';

// `backupctl schedules ...`: flags in, library call, one line per schedule out. Errors are BackupErrors
// that main() turns into exit codes.

/** loadConfigs gives every database of --config (or the one --database names, or the environment's). */
export function registerScheduleCommands(program: Command, loadConfigs: () => Config[]): void {
  const schedules = program
    .command('schedules')
    .description(
      'manage the Temporal Schedules of each database: the nightly backup, the retention sweep, the DR drill and the re-read',
    );

  schedules
    .command('apply')
    .description('create or update the schedules from the configuration (idempotent; keeps a pause)')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: { json?: boolean }) => {
      const results = await forEachDatabase(loadConfigs, applySchedules);
      if (options.json) return console.log(JSON.stringify(results, null, 2));
      for (const r of results) {
        console.log(`${r.outcome} ${r.id}${r.changes.length ? ` (${r.changes.join(', ')})` : ''}`);
      }
    });

  schedules
    .command('list')
    .description('show the schedules, their state and their next runs')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const statuses = await forEachDatabase(loadConfigs, listSchedules);
      console.log(options.json ? JSON.stringify(statuses, null, 2) : formatScheduleTable(statuses));
    });

  schedules
    .command('pause')
    .description('pause the schedule of that kind, or all; apply keeps it paused')
    .addArgument(kindArgument())
    .option('--note <note>', 'why, shown by schedules list and in the Temporal UI')
    .action((kind: ScheduleKind | undefined, options: { note?: string }) =>
      report(loadConfigs, 'paused', (client, config) => pauseSchedules(client, config, kind, options.note)),
    );

  const simple = [
    ['unpause', 'unpaused', 'resume the schedule of that kind, or all', unpauseSchedules],
    ['trigger', 'triggered', 'start the workflow of that schedule, or of all, now', triggerSchedules],
    ['delete', 'deleted', 'delete the schedule of that kind, or all', deleteSchedules],
  ] as const;
  for (const [name, done, description, run] of simple) {
    schedules
      .command(name)
      .description(description)
      .addArgument(kindArgument())
      .action((kind: ScheduleKind | undefined) =>
        report(loadConfigs, done, (client, config) => run(client, config, kind)),
      );
  }
}

function kindArgument(): Argument {
  return new Argument('[kind]', `${SCHEDULE_KINDS.join(', ')}; all when left out`).choices(SCHEDULE_KINDS);
}

/** Runs work for each database with one client, and joins what each returns. */
async function forEachDatabase<T>(
  loadConfigs: () => Config[],
  work: (client: Client, config: Config) => Promise<T[]>,
): Promise<T[]> {
  const configs = loadConfigs();
  const client = await connectClient(configs[0]!.temporal);
  try {
    const results: T[] = [];
    for (const config of configs) results.push(...(await work(client, config)));
    return results;
  } finally {
    await client.connection.close();
  }
}

async function report(
  loadConfigs: () => Config[],
  done: string,
  work: (client: Client, config: Config) => Promise<string[]>,
): Promise<void> {
  const ids = await forEachDatabase(loadConfigs, work);
  for (const id of ids) console.log(`${done} ${id}`);
}

export function formatScheduleTable(statuses: ScheduleStatus[]): string {
  const rows = statuses.map((s) => [
    s.id,
    s.state + (s.note && s.state === 'paused' ? ` (${s.note})` : ''),
    s.cron ?? '-',
    s.timeZone ?? '-',
    s.jitterMinutes ? `${s.jitterMinutes} min` : '-',
    s.nextRuns
      .slice(0, 3)
      .map((date) => formatInZone(date, s.timeZone ?? 'UTC'))
      .join(', ') || '-',
  ]);
  return formatTable([['ID', 'STATE', 'CRON', 'TIMEZONE', 'JITTER', 'NEXT RUNS'], ...rows]);
}

/** A run time as the operator wrote the cron: wall-clock time in the schedule's zone, e.g. 2026-11-28 02:00 GMT+1. */
function formatInZone(date: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZoneName: 'shortOffset',
  }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value;
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${part('timeZoneName')}`;
}
