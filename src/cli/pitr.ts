import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import { formatConfChanges } from '../core/pitr.js';

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
}
