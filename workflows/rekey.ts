import { ApplicationFailure, proxyActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { RekeyActivities, RekeyRequest } from '../activities/rekey.js';
import type { ErrorKind } from '../src/core/errors.js';
import type { RekeyedBackup } from '../src/rekey/backup.js';
import type { RekeyItem } from '../src/rekey/plan.js';
import { hostActivityOptions, restoreQueueOptions } from '../src/temporal/names.js';
import { describeFailure, failureKind, kindedFailure } from './failure.js';
import { reportedRun } from './report.js';

export type { RekeyRequest };

export interface RekeyBackupResult {
  key: string;
  createdAt: string;
  outcome: 'rekeyed' | 'failed';
  locations: RekeyItem['locations'];
  /** The new file's size and SHA-256 (rekeyed). */
  bytes?: number;
  sha256?: string;
  reason?: string;
  /** The error kind of a failure (ERROR_KINDS). */
  errorKind?: ErrorKind;
}

export interface RekeyResult {
  recipients: string[];
  backups: RekeyBackupResult[];
  rekeyed: number;
  failed: number;
  /** Already encrypted to the new recipients when the run started. */
  alreadyDone: number;
  skipped: { key: string; reason: string }[];
}

/**
 * Key rotation (`backupctl rekey`): every retained encrypted backup of the database re-encrypted to
 * new recipients, one activity per backup (all its copies), each resumable. The plan runs on the
 * restore queue (the worker must hold the current private key) and skips what is done, so running it
 * again after a failure finishes the rest. One failed backup does not stop the others; the run fails at the end, naming each.
 */
export async function rekeyWorkflow(request: RekeyRequest): Promise<RekeyResult> {
  return reportedRun(
    'rekey',
    request.database,
    () => rekeyAll(request),
    ({ rekeyed, failed }) => ({ checked: rekeyed + failed, failed }),
  );
}

async function rekeyAll(request: RekeyRequest): Promise<RekeyResult> {
  const planner = proxyActivities<RekeyActivities>(restoreQueueOptions(workflowInfo().taskQueue));
  const plan = await planner.planRekey(request);
  const host = proxyActivities<RekeyActivities>(hostActivityOptions(plan.hostTaskQueue, plan.retryAttempts));
  const backups: RekeyBackupResult[] = [];
  for (const [index, backup] of plan.backups.entries()) {
    setCurrentDetails(`re-encrypting ${index + 1} of ${plan.backups.length}: ${backup.key}`);
    backups.push(await rekeyOne(host, request, backup));
  }
  const result: RekeyResult = {
    recipients: plan.recipients,
    backups,
    rekeyed: backups.filter((b) => b.outcome === 'rekeyed').length,
    failed: backups.filter((b) => b.outcome === 'failed').length,
    alreadyDone: plan.done,
    skipped: plan.skipped,
  };
  setCurrentDetails(
    `**${result.failed ? `${result.failed} failed` : 'done'}**: ${result.rekeyed} re-encrypted`,
  );
  if (result.failed) throw rekeyFailure(result);
  return result;
}

async function rekeyOne(
  host: ReturnType<typeof proxyActivities<RekeyActivities>>,
  request: RekeyRequest,
  backup: RekeyItem,
): Promise<RekeyBackupResult> {
  const { key, createdAt, locations } = backup;
  try {
    const done: RekeyedBackup = await host.rekeyBackup.executeWithOptions(
      { summary: `re-encrypt ${key} (${locations.join(', ')})` },
      [{ ...request, backup }],
    );
    return { key, createdAt, locations, outcome: 'rekeyed', bytes: done.bytes, sha256: done.sha256 };
  } catch (error) {
    return {
      key,
      createdAt,
      locations,
      outcome: 'failed',
      reason: describeFailure(error),
      errorKind: failureKind(error),
    };
  }
}

function rekeyFailure(result: RekeyResult): ApplicationFailure {
  const failed = result.backups.filter((b) => b.outcome === 'failed');
  return kindedFailure(
    failed[0]!.errorKind ?? 'General',
    `rekey: ${failed.length} of ${result.backups.length} backups not re-encrypted: ${failed
      .map((b) => `${b.key}: ${b.reason}`)
      .join('; ')}`,
    ['fix the cause and run backupctl rekey again: it goes on where it stopped', result],
  );
}
