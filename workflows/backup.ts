import {
  CancellationScope,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BackupActivities, UploadOutcome } from '../activities/backup.js';
import type { BackupKind } from '../src/core/classify.js';
import {
  KIND_ATTRIBUTE,
  LABEL_ATTRIBUTE,
  progressQuery,
  hostActivityOptions,
  sharedQueueOptions,
  type BackupProgress,
  type BackupStep,
} from '../src/temporal/names.js';
import { describeFailure, failedWith, withLocalCopyKept } from './failure.js';
import { reportedRun } from './report.js';

export interface BackupRequest {
  /** DB_NAME of the database to back up; may be left out when the workers back up only one. */
  database?: string;
  /** Marks a pre-upgrade backup: stored under upgrades/ and kept until deleted by hand. */
  label?: string;
}

export interface BackupResult {
  database: string;
  kind: BackupKind;
  label?: string;
  key: string;
  manifestKey: string;
  localPath: string;
  remote?: { location: string; key: string; etag?: string; storageClass?: string };
  archiveBytes: number;
  fileBytes: number;
  sha256: string;
  encrypted: boolean;
  tocEntries: number;
  tables: number;
  /** Parts the upload step did not have to send: sent while dumping, or by an attempt that died. */
  resumedParts: number;
  durationsMs: Partial<Record<BackupStep, number>>;
}

const planner = proxyActivities<BackupActivities>(sharedQueueOptions());

/** Host activities: the steps that read and write this backup's local files. */
function hostActivities(taskQueue: string, maximumAttempts: number) {
  return proxyActivities<BackupActivities>(hostActivityOptions(taskQueue, maximumAttempts));
}

/**
 * The backup runbook: plan, pg_dump -Fc, verify with pg_restore --list, encrypt, upload, manifest.
 * Each step is an activity of its own, so its outcome (bytes, time, result) is in the history.
 */
export async function backupWorkflow(request: BackupRequest = {}): Promise<BackupResult> {
  return reportedRun(
    'backup',
    request.database,
    () => runBackup(request),
    (result) => ({ fileBytes: result.fileBytes, bytesUploaded: result.remote ? result.fileBytes : 0 }),
  );
}

async function runBackup(request: BackupRequest): Promise<BackupResult> {
  const progress: BackupProgress = { step: 'plan', completed: [] };
  setHandler(progressQuery, () => progress);
  const durationsMs: BackupResult['durationsMs'] = {};
  const done = (step: BackupStep, detail: string, durationMs?: number) => {
    progress.completed.push({ step, durationMs, detail });
    if (durationMs !== undefined) durationsMs[step] = durationMs;
  };
  const begin = (step: BackupProgress['step']) => {
    progress.step = step;
    setCurrentDetails(`**${step}**`);
  };

  const plan = await planner.planBackup({
    database: request.database,
    label: request.label,
    startedAt: new Date(workflowInfo().startTime).toISOString(),
  });
  upsertSearchAttributes([
    { key: KIND_ATTRIBUTE, value: plan.kind },
    ...(plan.label ? [{ key: LABEL_ATTRIBUTE, value: plan.label }] : []),
  ]);
  done(
    'plan',
    `${plan.kind} backup ${plan.key}${plan.remote ? ` to ${plan.remote.location}` : ', local only'}`,
  );
  const host = hostActivities(plan.hostTaskQueue, plan.retryAttempts);
  // The dump takes one of the host's bounded slots (WORKER_MAX_CONCURRENT_BACKUPS). The upload does
  // not: it sent most parts during the dump, and must not wait an hour behind a wave for the last.
  const bounded = plan.boundedTaskQueue ? hostActivities(plan.boundedTaskQueue, plan.retryAttempts) : host;

  try {
    begin('dump');
    const dumped = await bounded.dumpVerifyEncrypt.executeWithOptions(
      {
        summary: `pg_dump -Fc ${plan.database} | pg_restore --list | ${plan.encrypted ? 'OpenPGP' : 'no encryption'}`,
      },
      [plan],
    );
    const { dump, verify, encrypt } = dumped;
    done('dump', `${dump.bytes} bytes, ${dump.tables} tables, ${dump.totalRows} rows`, dump.durationMs);
    done('verify', `${verify.tocEntries} TOC entries`, verify.durationMs);
    done(
      'encrypt',
      `${encrypt.method}: ${encrypt.bytes} bytes, sha256 ${encrypt.sha256}`,
      encrypt.durationMs,
    );

    let upload: UploadOutcome | undefined;
    if (plan.remote) {
      begin('upload');
      try {
        upload = await host.uploadBackup.executeWithOptions(
          { summary: `upload to ${plan.remote.location}` },
          [plan, dumped.upload],
        );
      } catch (error) {
        // Keep the verified local copy as a complete backup (local manifest), then report the failure.
        await host.writeManifest.executeWithOptions({ summary: 'write local manifest' }, [
          plan,
          { dump: dumped },
        ]);
        throw withLocalCopyKept(error, encrypt.localPath);
      }
      done('upload', `${upload.size} bytes (${upload.resumedParts} parts already sent)`, upload.durationMs);
    }

    begin('manifest');
    const manifest = await host.writeManifest.executeWithOptions({ summary: 'write manifest' }, [
      plan,
      { dump: dumped, upload },
    ]);
    done('manifest', plan.manifestKey);
    begin('done');
    return {
      database: plan.database,
      kind: plan.kind,
      label: plan.label,
      key: plan.key,
      manifestKey: plan.manifestKey,
      localPath: encrypt.localPath,
      remote: manifest.remote,
      archiveBytes: manifest.archive.bytes,
      fileBytes: manifest.file.bytes,
      sha256: manifest.file.sha256,
      encrypted: plan.encrypted,
      tocEntries: verify.tocEntries,
      tables: dump.tables,
      resumedParts: upload?.resumedParts ?? 0,
      durationsMs,
    };
  } catch (error) {
    progress.error = describeFailure(error);
    // Refused because another backup of the database is running: this run wrote nothing, and what
    // bears its name (the same second's) is that backup's, which a cleanup would destroy.
    if (failedWith(error, 'AlreadyRunning')) {
      progress.step = 'failed';
      throw error;
    }
    begin('cleanup');
    // Clean up even when the run was cancelled: nothing half-written may stay behind.
    const cleanup = await CancellationScope.nonCancellable(() => host.discardIncompleteBackup(plan)).catch(
      (cleanupError: unknown) => {
        log.error('cleanup after a failed backup failed', { error: describeFailure(cleanupError) });
        return { removed: [] };
      },
    );
    if (cleanup.removed.length > 0)
      log.info('removed what the failed backup left', { removed: cleanup.removed });
    progress.step = 'failed';
    throw error;
  }
}
