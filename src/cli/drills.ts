import type { WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import {
  connectClient,
  hasPollers,
  startDrill,
  startPitrDrill,
  startReread,
  waitForDrill,
  waitForReread,
  type RereadResult,
} from '../client/index.js';
import type { Config } from '../config/index.js';
import { configError } from '../core/errors.js';
import type { DrillReport } from '../core/outcome.js';
import { readDrillReports } from '../drill/reports.js';
import { restoreTaskQueueName } from '../temporal/names.js';
import { formatTable } from './format.js';

// `backupctl drill | drills list | reread`: start a run (and follow it), or read the drill reports.

export function registerDrillCommands(
  program: Command,
  loadConfig: () => Config,
  loadConfigs: () => Config[],
): void {
  program
    .command('drill')
    .description(
      'run a DR drill now: restore the newest backup into a scratch database, verify it, drop it, write a report',
    )
    .option('--wait', 'wait for the drill, print its report, exit with its code')
    .option('--json', 'print the result as JSON')
    .option(
      '--pitr',
      'a PITR drill instead (PITR=pgbackrest): recover a scratch server to a moment, report RTO and the achieved RPO',
    )
    .option('--lag <seconds>', 'with --pitr: the moment is this many seconds ago (default 300)')
    .action(async (flags: { wait?: boolean; json?: boolean; pitr?: boolean; lag?: string }) => {
      const cfg = loadConfig();
      if (flags.lag !== undefined && (!flags.pitr || !/^\d+$/.test(flags.lag))) {
        throw configError('--lag: a whole number of seconds, with --pitr');
      }
      const lagSeconds = flags.lag === undefined ? undefined : Number(flags.lag);
      const handle = flags.pitr
        ? await started(cfg, flags, (client, options) => startPitrDrill(client, { ...options, lagSeconds }))
        : await started(cfg, flags, startDrill);
      if (!flags.wait) return;
      const result = await waitForDrill(handle).catch(async (error: unknown) => {
        // A failed drill wrote its report too: show it (when this host keeps it), then fail.
        const report = (await readDrillReports(cfg.backup.dir)).find(
          (r) => r.report.workflowId === handle.workflowId,
        );
        if (report && !flags.json) console.error(formatDrillReport(report.report));
        throw error;
      });
      console.log(
        flags.json
          ? JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2)
          : formatDrillReport(result.report, result.reportPath),
      );
    });

  program
    .command('drills')
    .description('the DR drills this host ran')
    .command('list')
    .description('the drill reports in BACKUP_DIR/reports of each configured database, newest first')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }) => {
      const configs = loadConfigs();
      const reports = await drillReportsOf(configs);
      console.log(
        flags.json ? JSON.stringify(reports, null, 2) : formatDrillTable(reports, configs.length > 1),
      );
    });

  program
    .command('reread')
    .description(
      'read every copy of every backup now: fetch, checksum, decrypt and pg_restore to /dev/null, without restoring',
    )
    .option('--wait', 'wait for the re-read, print each copy, exit with its code')
    .option('--json', 'print the result as JSON')
    .action(async (flags: { wait?: boolean; json?: boolean }) => {
      const handle = await started(loadConfig(), flags, startReread);
      if (!flags.wait) return;
      const result = await waitForReread(handle);
      console.log(
        flags.json
          ? JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2)
          : formatReread(result),
      );
    });
}

/** The reports of these databases, newest first: each BACKUP_DIR read once, others' reports left out. */
async function drillReportsOf(configs: Config[]): Promise<DrillReport[]> {
  const names = new Set(configs.map((c) => c.database.name));
  const folders = [...new Set(configs.map((c) => c.backup.dir))];
  const read = await Promise.all(folders.map(readDrillReports));
  return read
    .flat()
    .map((r) => r.report)
    .filter((r) => names.has(r.database))
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/** Starts the run and says so; with --wait, warns when no worker may run it (the restore queue). */
async function started(
  cfg: Config,
  flags: { wait?: boolean; json?: boolean },
  start: typeof startDrill,
): Promise<WorkflowHandle> {
  const client = await connectClient(cfg.temporal);
  const handle = await start(client, { database: cfg.database.name, taskQueue: cfg.temporal.taskQueue });
  const link = `${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows/${handle.workflowId}`;
  if (flags.json && !flags.wait) console.log(JSON.stringify({ workflowId: handle.workflowId, ui: link }));
  else if (flags.wait) console.error(`started ${handle.workflowId}\n${link}`);
  else console.log(`started ${handle.workflowId}\n${link}`);
  const restoreQueue = restoreTaskQueueName(cfg.temporal.taskQueue);
  if (flags.wait && !(await hasPollers(client, cfg.temporal.namespace, restoreQueue))) {
    console.error(
      `warning: no worker polls ${restoreQueue}; the run waits until one does (backupctl worker with RESTORE_ENABLED=true)`,
    );
  }
  return handle;
}

const seconds = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

export function formatDrillReport(report: DrillReport, path?: string): string {
  return [
    `drill ${report.ok ? 'passed' : 'FAILED'}: ${report.database} into ${report.scratchDatabase} (${report.scratchDropped ? 'dropped' : 'NOT dropped'})`,
    ...(report.backup ? [`  backup: ${report.backup.key} (taken ${report.backup.createdAt})`] : []),
    ...report.phases.map(
      (p) => `  done ${p.phase.padEnd(9)} ${seconds(p.durationMs).padStart(8)}  ${p.detail}`,
    ),
    `  RTO:  ${seconds(report.rtoMs)} against a target of ${seconds(report.rtoTargetMs)}: ${report.withinTarget ? 'within' : 'OVER'} target`,
    ...(report.pitr
      ? [
          `  PITR: recovered to ${report.pitr.target} from ${report.pitr.baseBackup ?? '-'}; newest heartbeat ${report.pitr.newestBeat ?? '(none)'}`,
          `  RPO:  ${seconds(report.pitr.rpoMs)} against a target of ${seconds(report.pitr.rpoTargetMs)}: ${report.pitr.withinRpo ? 'within' : 'OVER'} target`,
        ]
      : []),
    ...(report.error ? [`  error: ${report.error}`] : []),
    ...(path ? [`  report: ${path}`] : []),
  ].join('\n');
}

/** One line per drill: when, whether it passed, RTO against the target, which backup, what went wrong. */
export function formatDrillTable(reports: DrillReport[], withDatabase = false): string {
  if (reports.length === 0) return 'no drill reports';
  // The RPO column only where a PITR drill ran (docs/pitr.md#the-pitr-drill).
  const withRpo = reports.some((r) => r.pitr);
  const rows = reports.map((r) => [
    ...(withDatabase ? [r.database] : []),
    r.startedAt,
    r.ok ? 'ok' : 'FAILED',
    `${seconds(r.rtoMs)} / ${seconds(r.rtoTargetMs)}${r.withinTarget ? '' : ' OVER'}`,
    ...(withRpo
      ? [
          r.pitr
            ? `${seconds(r.pitr.rpoMs)} / ${seconds(r.pitr.rpoTargetMs)}${r.pitr.withinRpo ? '' : ' OVER'}`
            : '-',
        ]
      : []),
    r.backup?.key ?? (r.pitr ? `pitr ${r.pitr.baseBackup ?? '-'}` : '-'),
    r.error ?? '',
  ]);
  const header = ['STARTED', 'OK', 'RTO / TARGET', ...(withRpo ? ['RPO / TARGET'] : []), 'BACKUP', 'ERROR'];
  return formatTable([[...(withDatabase ? ['DATABASE'] : []), ...header], ...rows]);
}

function formatReread(result: RereadResult): string {
  return [
    `re-read ${result.checked} copies: ${result.failed === 0 ? 'all readable' : `${result.failed} FAILED`}`,
    ...result.copies.map(
      (c) =>
        `  ${c.outcome.padEnd(7)} ${c.location.padEnd(6)} ${c.key}  ${c.durationMs === undefined ? '' : seconds(c.durationMs)}${c.reason ? `  ${c.reason}` : ''}`,
    ),
  ].join('\n');
}
