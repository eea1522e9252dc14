import type { Config, PitrConfig } from '../config/index.js';
import { BackupError, configError } from '../core/errors.js';
import { archiveCommand, judgeServerSettings, type SettingChange } from '../core/pitr.js';
import { connect } from '../postgres/connection.js';
import { confSettings, readServerFacts, runPgBackRest, writePgBackRestConfig } from './pgbackrest.js';

// `backupctl pitr setup`: check the server, write pgBackRest's configuration, stanza-create, check.

export interface PitrSetupResult {
  stanza: string;
  configFile: string;
  repository: string;
  /** What postgresql.conf lacks; empty when the server archives through pgBackRest. */
  changes: SettingChange[];
  /** `pgbackrest check` passed: a WAL segment reached the repository. */
  checked: boolean;
}

export function pitrOf(config: Config): PitrConfig {
  if (!config.pitr) {
    throw configError(
      'PITR: point-in-time recovery is off for this database; set PITR=pgbackrest and a repository',
      'see docs/pitr.md',
    );
  }
  return config.pitr;
}

/**
 * Writes the configuration and creates the stanza whatever the server's settings (both are needed
 * before archive_command can work); runs `check` only when the settings are right. `say` gets one
 * line per step done.
 */
export async function setUpPitr(config: Config, say: (line: string) => void): Promise<PitrSetupResult> {
  const pitr = pitrOf(config);
  const client = await connect(config.database, 'General');
  const facts = await readServerFacts(client).finally(() => client.end().catch(() => undefined));
  if (pitr.pgData && facts.data_directory && pitr.pgData !== facts.data_directory) {
    say(
      `warning: PITR_PG_DATA is ${pitr.pgData} and the server's data_directory ${facts.data_directory}; pgBackRest uses PITR_PG_DATA`,
    );
  }
  const br = await writePgBackRestConfig(pitr, confSettings(pitr, facts));
  const repository =
    pitr.repo.type === 'posix' ? pitr.repo.path : `s3://${pitr.repo.bucket}/${pitr.repo.prefix}`;
  say(`wrote ${br.configFile} (mode 0600, for ${br.user}); repository ${repository}`);
  const changes = judgeServerSettings(facts, {
    archiveCommand: archiveCommand(br.configFile, br.stanza),
    archiveTimeoutSeconds: pitr.archiveTimeoutSeconds,
  });
  await runPgBackRest(br, 'stanza-create');
  say(`stanza ${br.stanza} created (or already there, unchanged)`);
  const result = { stanza: br.stanza, configFile: br.configFile, repository, changes, checked: false };
  if (changes.length > 0) return result;
  await runPgBackRest(br, 'check');
  say('pgbackrest check passed: a WAL segment reached the repository');
  return { ...result, checked: true };
}

/** The error `pitr setup` ends with when postgresql.conf must change first (exit 3). */
export function settingsError(changes: SettingChange[]): BackupError {
  const names = changes.map((c) => c.name).join(', ');
  return configError(
    `pitr setup: the server does not archive WAL through pgBackRest yet (${names}); change postgresql.conf as printed`,
    'set those lines (or ALTER SYSTEM SET each), restart or reload PostgreSQL as printed, then run backupctl pitr setup again',
  );
}
