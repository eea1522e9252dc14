import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { configError } from '../src/core/errors.js';
import { fullRetentionDays, type PhysicalBackup, type PhysicalBackupType } from '../src/core/pitr-backup.js';
import { expirePhysicalBackups, takePhysicalBackup, type ExpireOutcome } from '../src/pitr/backup.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

/** Activities of physical backups (PITR=pgbackrest): pgBackRest runs on the database's host. */
export function createPitrBackupActivities(config: Config) {
  const secrets = secretsOf(config);
  const pitr = () => {
    if (!config.pitr)
      throw configError(
        `PITR: point-in-time recovery is off for ${config.database.name}; set PITR=pgbackrest`,
      );
    return config.pitr;
  };
  const signal = () => Context.current().cancellationSignal;
  return {
    /** Shared queue: the host queue of a worker of this database, where pgBackRest can reach its data. */
    async pitrBackupHost(_request: { database?: string }): Promise<{ taskQueue: string; stanza: string }> {
      return asActivity(secrets, async () => ({
        taskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
        stanza: pitr().stanza,
      }));
    },

    /** `pgbackrest backup --type=T`, heartbeating; a cancel stops pgBackRest (its partial backup is resumable). */
    async pgbackrestBackup(request: {
      database?: string;
      type: PhysicalBackupType;
    }): Promise<PhysicalBackup> {
      return asActivity(secrets, () =>
        heartbeating(() => takePhysicalBackup(pitr(), request.type, signal())),
      );
    },

    /**
     * The retention sweep's last step: `pgbackrest expire` with the full-retention window that keeps
     * each logical backup the plan keeps recoverable to its moment; nothing (undefined) with PITR off.
     */
    async pgbackrestExpire(request: {
      database?: string;
      asOf: string;
      kept: { createdAt: string }[];
    }): Promise<ExpireOutcome | undefined> {
      return asActivity(secrets, async () => {
        if (!config.pitr) return undefined;
        const days = fullRetentionDays(request.kept, new Date(request.asOf), config.retention.dailyDays);
        return heartbeating(() => expirePhysicalBackups(pitr(), days, signal()));
      });
    },
  };
}

export type PitrBackupActivities = ReturnType<typeof createPitrBackupActivities>;
