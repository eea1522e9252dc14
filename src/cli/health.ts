import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import { formatCheck } from '../core/health.js';
import type { DatabaseHealth } from '../health/index.js';

// `backupctl health`: one line per check and database, exit 0 when every check passes, 1 (a General
// error, through main()'s mapping) when one fails. docs/health.md describes the checks.

export function registerHealthCommand(program: Command, loadConfigs: () => Config[]): void {
  program
    .command('health')
    .description(
      'check each database: backup age, both copies alike, free space, schedules, DR drills; exit 1 when unhealthy',
    )
    .option('--repair', 'first upload missing or damaged remote copies again from verified local ones')
    .option('--json', 'print the checks, the drift and the repairs as JSON')
    .action(async (options: { repair?: boolean; json?: boolean }) => {
      // Loaded here: the other commands need not pay for the health modules.
      const { checkHealth } = await import('../health/index.js');
      const { openScheduleFacts } = await import('../schedules/facts.js');
      const configs = loadConfigs();
      // One Temporal connection for every database's schedules.
      const schedules = await openScheduleFacts(configs[0]!.temporal);
      const results = await checkHealth(configs, {
        repair: options.repair,
        scheduleFacts: (config) => schedules.factsOf(config),
      }).finally(() => schedules.close());
      console.log(options.json ? JSON.stringify(results, null, 2) : formatHealth(results));
      const checks = results.flatMap((r) => r.checks);
      const failures = checks.filter((c) => !c.ok).length;
      if (failures > 0) {
        throw new BackupError('General', `unhealthy: ${failures} of ${checks.length} checks failed`, {
          hint: 'the FAIL lines say what to fix; docs/health.md tells how',
        });
      }
    });
}

function formatHealth(results: DatabaseHealth[]): string {
  return results
    .flatMap(({ database, checks, repairs }) => [
      ...repairs.map(
        (r) => `${r.repaired ? 'repaired' : 'NOT repaired'} ${database}/${r.dataKey}: ${r.detail}`,
      ),
      ...checks.map((check) => formatCheck(database, check)),
    ])
    .join('\n');
}
