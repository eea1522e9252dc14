import { Option, type Command } from 'commander';
import type { Config } from '../config/index.js';

// `backupctl metrics --textfile PATH`: the catalog gauges for node-exporter's textfile collector, as
// the operations guide writes them, for hosts that scrape node-exporter rather than the worker.

/** loadConfigs gives every database of --config (or the one --database names, or the environment's). */
export function registerMetricsCommand(program: Command, loadConfigs: () => Config[]): void {
  program
    .command('metrics')
    .description(
      'write the backup gauges (last success, size, count, copies) of each database for node-exporter',
    )
    .addOption(
      new Option(
        '--textfile <path>',
        'the .prom file, e.g. /var/lib/prometheus/node-exporter/backup.prom (replaced atomically)',
      ).makeOptionMandatory(),
    )
    .action(async (options: { textfile: string }) => {
      // Loaded here: prom-client and the S3 client are not every command's cost.
      const { writeMetricsTextfile } = await import('../metrics/textfile.js');
      await writeMetricsTextfile(options.textfile, loadConfigs());
    });
}
