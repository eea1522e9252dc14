import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { PitrBackupActivities } from '../activities/pitr-backup.js';
import type { PhysicalBackup, PhysicalBackupType } from '../src/core/pitr-backup.js';
import { pitrHostOptions, sharedQueueOptions } from '../src/temporal/names.js';
import { reportedRun } from './report.js';

export interface PitrBackupRequest {
  /** DB_NAME of the database; may be left out when the workers serve only one. */
  database?: string;
  /** full by default (a schedule names its type). */
  type?: PhysicalBackupType;
}

export interface PitrBackupResult {
  database?: string;
  stanza: string;
  backup: PhysicalBackup;
}

const shared = proxyActivities<PitrBackupActivities>(sharedQueueOptions());

/**
 * A physical backup through pgBackRest: find the database's host, then one step,
 * `pgbackrest backup --type=T`, whose result in the history is the backup's label, type, sizes,
 * times and WAL range. The repository's secrets stay in pgBackRest's file: none is in the history.
 */
export async function pitrBackupWorkflow(request: PitrBackupRequest = {}): Promise<PitrBackupResult> {
  return reportedRun(
    'pitr-backup',
    request.database,
    async () => {
      const type = request.type ?? 'full';
      const { taskQueue, stanza } = await shared.pitrBackupHost({ database: request.database });
      setCurrentDetails(`**pgbackrest backup --type=${type}** of stanza ${stanza}`);
      const host = proxyActivities<PitrBackupActivities>(pitrHostOptions(taskQueue));
      const backup = await host.pgbackrestBackup.executeWithOptions(
        { summary: `pgbackrest backup --type=${type}` },
        [{ database: request.database, type }],
      );
      setCurrentDetails(
        `${backup.type} backup ${backup.label}: ${backup.repoDeltaBytes} bytes in the repository`,
      );
      return { database: request.database, stanza, backup };
    },
    (result) => ({ fileBytes: result.backup.repoDeltaBytes }),
  );
}
