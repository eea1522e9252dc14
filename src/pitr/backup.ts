import type { PitrConfig } from '../config/index.js';
import { BackupError } from '../core/errors.js';
import {
  expireArgs,
  newestBackup,
  parseStanzaInfo,
  type PhysicalBackup,
  type PhysicalBackupType,
  type StanzaInfo,
} from '../core/pitr-backup.js';
import { pgBackRestOf, runPgBackRest, type PgBackRest } from './pgbackrest.js';

// Physical backups and their expiry: `pgbackrest backup`, `info` and `expire` for one stanza.

/** `pgbackrest info --output=json` of the stanza. */
export function readStanzaInfo(pitr: PitrConfig, signal?: AbortSignal): Promise<StanzaInfo> {
  return stanzaInfo(pgBackRestOf(pitr), signal);
}

/** The same, through a pgBackRest already resolved (restores and drills have one). */
export async function stanzaInfo(br: PgBackRest, signal?: AbortSignal): Promise<StanzaInfo> {
  const { stdout } = await runPgBackRest(br, 'info', ['--output=json'], { signal, timeoutMs: 120_000 });
  return parseStanzaInfo(stdout, br.stanza);
}

/**
 * `pgbackrest backup --type=T`, then the backup it made as `info` describes it. pgBackRest takes its
 * own lock on the stanza: a second backup at once fails with its lock error, refused here as
 * AlreadyRunning (not retried: the running one may take hours).
 */
export async function takePhysicalBackup(
  pitr: PitrConfig,
  type: PhysicalBackupType,
  signal?: AbortSignal,
): Promise<PhysicalBackup> {
  const br = pgBackRestOf(pitr);
  const before = newestBackup(await readStanzaInfo(pitr, signal))?.label;
  try {
    await runPgBackRest(br, 'backup', [`--type=${type}`], { signal });
  } catch (error) {
    if (error instanceof BackupError && /\[050\]|unable to acquire lock/.test(error.message)) {
      throw new BackupError(
        'AlreadyRunning',
        `stanza ${br.stanza}: another pgBackRest backup of it is running; this one is refused`,
        { hint: 'wait for it to finish, then run again' },
      );
    }
    throw error;
  }
  const made = newestBackup(await readStanzaInfo(pitr, signal));
  if (!made || made.label === before) {
    throw new BackupError('General', `pgbackrest backup ended but info shows no new backup of ${br.stanza}`);
  }
  return made;
}

export interface ExpireOutcome {
  retentionFullDays: number;
  /** The labels pgBackRest removed, and those left. */
  expired: string[];
  kept: string[];
}

/** `pgbackrest expire` with a time-based full retention of that many days. */
export async function expirePhysicalBackups(
  pitr: PitrConfig,
  retentionFullDays: number,
  signal?: AbortSignal,
): Promise<ExpireOutcome> {
  const before = (await readStanzaInfo(pitr, signal)).backups.map((b) => b.label);
  await runPgBackRest(pgBackRestOf(pitr), 'expire', expireArgs(retentionFullDays), { signal });
  const kept = (await readStanzaInfo(pitr, signal)).backups.map((b) => b.label);
  return { retentionFullDays, expired: before.filter((l) => !kept.includes(l)), kept };
}
