#!/usr/bin/env -S node --
// `--`: node 20 reads an --env-file it finds anywhere on its command line, even after the script
// (nodejs/node#54232): `backupctl --env-file FILE` would load FILE by node's rules, or die with
// node's own message when FILE is missing. After `--`, every argument is ours.
import { Command, CommanderError, Option } from 'commander';
import {
  connectClient,
  hasPollers,
  startBackup,
  startRetention,
  waitForBackup,
  waitForRetention,
  type BackupProgress,
  type BackupResult,
  type StepProgress,
} from '../client/index.js';
import { loadConfigs, secretsOf, type Config } from '../config/index.js';
import { BackupError, exitCodeOf } from '../core/errors.js';
import { registerDrillCommands } from './drills.js';
import { formatBytes, formatCleanup, formatPlan, formatProgress, formatWaitingStep } from './format.js';
import { registerHealthCommand } from './health.js';
import { registerListCommand } from './list.js';
import { registerMetricsCommand } from './metrics.js';
import { registerPitrCommands } from './pitr.js';
import { ProgressDisplay } from './progress.js';
import { announceStarted } from './started.js';
import { registerRekeyCommand } from './rekey.js';
import { registerRestoreCommands } from './restore.js';
import { registerScheduleCommands } from './schedules.js';

// A thin layer: parse flags, load the configuration, call the library, map errors to exit codes.

// The AWS SDK warns on every run that its 2027 releases will need Node 22; we pin a release that runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const program = new Command('backupctl')
  .description('PostgreSQL backups that cannot silently fail: pg_dump, OpenPGP and S3 as Temporal workflows.')
  .addOption(
    new Option('--env-file <path>', 'read variables from this file first (such as /etc/goimg/backup.env)'),
  )
  .addOption(
    new Option('--config <file>', 'a YAML or JSON file listing several databases (docs/configuration.md)'),
  )
  .addOption(new Option('--database <name>', 'with --config: the database (DB_NAME) a command is for'))
  .showHelpAfterError('hint: run backupctl --help for usage')
  // One error line, as everywhere else: commander puts its "(Did you mean --config?)" on a line of its own.
  .configureOutput({
    outputError: (text, write) => write(text.replace(/\n\((Did you mean [^)]*)\)/, ' ($1)')),
  })
  .exitOverride();

interface GlobalOptions {
  envFile?: string;
  config?: string;
  database?: string;
}

/** Every database this run is for: --config's (all, or the one --database names), or the environment's. */
function configs(): Config[] {
  const options = program.opts<GlobalOptions>();
  const all = loadConfigs({ envFile: options.envFile, configFile: options.config });
  if (!options.database) return all;
  const chosen = all.filter((c) => c.database.name === options.database);
  if (chosen.length === 0) {
    const known = all.map((c) => c.database.name).join(', ');
    throw new BackupError('Configuration', `--database: no database "${options.database}"; known: ${known}`);
  }
  return chosen;
}

/** The one database a command is for. */
function config(): Config {
  const chosen = configs();
  if (chosen.length > 1) {
    const names = chosen.map((c) => c.database.name).join(', ');
    throw new BackupError('Configuration', `--database: the config file lists ${names}; name one`);
  }
  return chosen[0]!;
}

program
  .command('worker')
  .description('run a worker: it takes the backups of the configured databases on this host')
  .action(async () => {
    const all = configs();
    const cfg = all[0]!;
    // Loaded here, not at the top: the worker's modules take half a second that other commands need not pay.
    const { installRuntime } = await import('../worker/runtime.js');
    const { startWorker } = await import('../worker/index.js');
    const runtime = installRuntime(cfg, all.flatMap(secretsOf));
    // The Runtime's log forwarding holds the process open: a worker that cannot start must let go of it.
    const worker = await startWorker(all).catch(async (error: unknown) => {
      await runtime.shutdown();
      throw error;
    });
    const databases = all.map((c) => c.database.name).join(', ');
    runtime.logger.info(
      `worker polling ${worker.taskQueues.join(' and ')} on ${cfg.temporal.address} for ${databases}`,
    );
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void worker.shutdown());
    await worker.done;
  });

program
  .command('backup')
  .description('start a backup of the configured database')
  .option('--label <label>', 'a pre-upgrade backup, named and kept apart (e.g. pre-v2.0-upgrade)')
  .option('--wait', 'wait for the backup, show progress, exit with its code')
  .option('--json', 'print the result as JSON')
  .action(async (options: { label?: string; wait?: boolean; json?: boolean }) => {
    // The worker's keys decide how a backup is encrypted, not this process's: a worker refuses to
    // start with a key it cannot use (exit 3), and this command checks none of its own.
    const cfg = config();
    const client = await connectClient(cfg.temporal);
    const handle = await startBackup(client, {
      database: cfg.database.name,
      label: options.label,
      taskQueue: cfg.temporal.taskQueue,
    });
    const link = announceStarted(cfg.temporal, handle.workflowId, options);
    if (!options.wait) return;
    if (!(await hasPollers(client, cfg.temporal.namespace, cfg.temporal.taskQueue))) {
      console.error(
        `warning: no worker polls ${cfg.temporal.taskQueue}; the backup waits until one does (backupctl worker)`,
      );
    }
    const display = new ProgressDisplay(process.stderr);
    const printed = new Set<string>();
    let latest: BackupProgress | undefined;
    const showProgress = (progress: BackupProgress) => {
      const stepChanged = latest?.step !== progress.step;
      latest = progress;
      for (const line of formatProgress(progress).filter((l) => !printed.has(l))) {
        printed.add(line);
        display.line(line);
      }
      // The last reading of the step that ended is stale: show the new step until it reports.
      if (stepChanged) display.running([], formatWaitingStep(progress));
    };
    const showRunning = (steps: StepProgress[]) => display.running(steps, formatWaitingStep(latest));
    // Progress is a query, answered by the worker, and a describe: not asked at all when nobody reads it.
    const result = await (options.json
      ? waitForBackup(handle)
      : waitForBackup(handle, showProgress, showRunning).finally(() => display.end()));
    if (options.json)
      console.log(JSON.stringify({ workflowId: handle.workflowId, ui: link, ...result }, null, 2));
    else console.log(describeResult(result, link));
  });

program
  .command('prune')
  .description(
    'apply the retention policy: the plan (keep or delete, and why, for each backup), then the deletions',
  )
  .option('--dry-run', 'show the plan only; nothing is deleted and no worker is needed')
  .option('--as-of <time>', 'decide as of this ISO 8601 date or time (with --dry-run), e.g. 2024-03-15')
  .option('--json', 'print as JSON')
  .action(async (options: { dryRun?: boolean; asOf?: string; json?: boolean }) => {
    const cfg = config();
    const asOf = parseAsOf(options.asOf, options.dryRun);
    if (options.dryRun) {
      const [{ planRetention }, { openStores }] = await Promise.all([
        import('../retention/sweep.js'),
        import('../storage/index.js'),
      ]);
      const plan = await planRetention(cfg, openStores(cfg), asOf);
      if (options.json) console.log(JSON.stringify({ asOf: asOf.toISOString(), plan }, null, 2));
      else console.log(formatPlan(plan, asOf));
      return;
    }
    const client = await connectClient(cfg.temporal);
    const handle = await startRetention(client, {
      database: cfg.database.name,
      taskQueue: cfg.temporal.taskQueue,
    });
    if (!options.json) console.error(`started ${handle.workflowId}`);
    const result = await waitForRetention(handle);
    if (options.json) console.log(JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2));
    else console.log(`${formatPlan(result.plan, new Date(result.asOf))}\n${formatCleanup(result)}`);
  });

registerRestoreCommands(program, config);
registerScheduleCommands(program, configs);
registerHealthCommand(program, configs);
registerListCommand(program, configs);
registerMetricsCommand(program, configs);
registerDrillCommands(program, config, configs);
registerRekeyCommand(program, config);
registerPitrCommands(program, config);

function parseAsOf(text: string | undefined, dryRun: boolean | undefined): Date {
  if (text === undefined) return new Date();
  if (!dryRun)
    throw new BackupError(
      'Configuration',
      '--as-of: only with --dry-run (deletions always use the time now)',
    );
  const date = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)
    ? new Date(text)
    : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new BackupError(
      'Configuration',
      `--as-of: "${text}" is not an ISO 8601 date, such as 2024-03-15 or 2024-03-15T02:00:00Z`,
    );
  }
  return date;
}

function describeResult(result: BackupResult, link: string): string {
  return [
    `backup complete: ${result.kind}${result.label ? ` (${result.label})` : ''}, ${formatBytes(result.fileBytes)}${result.encrypted ? ', encrypted' : ', NOT encrypted'}`,
    `  local:  ${result.localPath}`,
    `  remote: ${result.remote ? `${result.remote.location}${result.remote.key}` : 'none (S3_BUCKET is not set)'}`,
    `  sha256: ${result.sha256}`,
    `  steps:  ${Object.entries(result.durationsMs)
      .map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`)
      .join(', ')}`,
    `  history: ${link}`,
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : exitCodeOf('Configuration');
    if (error instanceof BackupError) {
      console.error(`error: ${error.message}`);
      if (error.hint) console.error(`hint: ${error.hint}`);
      return exitCodeOf(error.kind);
    }
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return exitCodeOf('General');
  }
}

process.exitCode = await main(process.argv);
