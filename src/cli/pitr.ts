import { Option, type Command } from 'commander';
import type { Config } from '../config/index.js';
import type { PhysicalBackup, PhysicalBackupType } from '../core/pitr-backup.js';
import { formatConfChanges } from '../core/pitr.js';
import { formatBytes } from './format.js';
import { announceStarted } from './started.js';

// `backupctl pitr ...`: point-in-time recovery through pgBackRest (docs/pitr.md).

export function registerPitrCommands(program: Command, config: () => Config): void {
  const pitr = program
    .command('pitr')
    .description('point-in-time recovery through pgBackRest (docs/pitr.md)');
  pitr
    .command('setup')
    .description(
      "check the server's archiving settings, write pgBackRest's configuration, create the stanza and check it",
    )
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      const cfg = config();
      const { setUpPitr, settingsError } = await import('../pitr/setup.js');
      const result = await setUpPitr(cfg, (line) => console.error(line));
      if (options.json) console.log(JSON.stringify(result, null, 2));
      if (result.changes.length > 0) {
        if (!options.json) console.log(`postgresql.conf needs:\n${formatConfChanges(result.changes)}`);
        throw settingsError(result.changes);
      }
      if (!options.json) console.log(`pitr ready: stanza ${result.stanza}, repository ${result.repository}`);
    });
  pitr
    .command('backup')
    .description('start a physical backup through pgBackRest (a workflow; one at a time per stanza)')
    .addOption(
      new Option('--type <type>', 'full, diff or incr').choices(['full', 'diff', 'incr']).default('full'),
    )
    .option('--wait', 'wait for the backup and exit with its code')
    .option('--json', 'print the result as JSON')
    .action(async (options: { type: PhysicalBackupType; wait?: boolean; json?: boolean }) => {
      const cfg = config();
      const { pitrOf } = await import('../pitr/setup.js');
      const { connectClient, startPitrBackup, waitForPitrBackup } = await import('../client/index.js');
      const { stanza } = pitrOf(cfg);
      const client = await connectClient(cfg.temporal);
      const handle = await startPitrBackup(client, {
        database: cfg.database.name,
        stanza,
        type: options.type,
        taskQueue: cfg.temporal.taskQueue,
      });
      const link = announceStarted(cfg.temporal, handle.workflowId, options);
      if (!options.wait) return;
      const result = await waitForPitrBackup(handle);
      if (options.json)
        console.log(JSON.stringify({ workflowId: handle.workflowId, ui: link, ...result }, null, 2));
      else console.log(describePhysicalBackup(result.backup));
    });
}

/** One line per fact of a physical backup, as `pitr backup --wait` prints it. */
export function describePhysicalBackup(b: PhysicalBackup): string {
  const seconds = (Date.parse(b.stoppedAt) - Date.parse(b.startedAt)) / 1000;
  return [
    `${b.type} backup ${b.label}${b.prior ? ` (on ${b.prior})` : ''}`,
    `  from ${b.startedAt} to ${b.stoppedAt} (${seconds} s)`,
    `  database ${formatBytes(b.databaseBytes)}, copied ${formatBytes(b.deltaBytes)}; repository ${formatBytes(b.repoDeltaBytes)} of ${formatBytes(b.repoBytes)}`,
    `  WAL ${b.walStart} to ${b.walStop}`,
  ].join('\n');
}
