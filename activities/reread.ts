import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { configError } from '../src/core/errors.js';
import { timed } from '../src/core/timed.js';
import type { PrivateKey } from '../src/crypto/keys.js';
import { trustPolicyOf } from '../src/crypto/signing.js';
import { listRereadCopies, rereadCopy, type RereadCopy } from '../src/drill/reread.js';
import type { Stores } from '../src/storage/index.js';
import type { LocalStore } from '../src/storage/types.js';
import { hostRestoreTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';

export interface RereadPlan {
  copies: RereadCopy[];
  /**
   * The worker that listed them reads them all (it holds the private key), on its restore queue:
   * one copy at a time takes one of its WORKER_MAX_CONCURRENT_RESTORES slots.
   */
  hostTaskQueue: string;
  retryAttempts: number;
}

export function createRereadActivities(config: Config, stores: Stores<LocalStore>, privateKey: PrivateKey) {
  const secrets = secretsOf(config);

  return {
    /** Runs on the restore queue: lists every copy, and refuses at once when encrypted ones cannot be read. */
    async planReread(_request: { database?: string }): Promise<RereadPlan> {
      return asActivity(secrets, async () => {
        const copies = await listRereadCopies(config, stores, await trustPolicyOf(config));
        if (copies.some((c) => c.encrypted) && !(await privateKey())) {
          throw configError(
            'GPG_PRIVATE_KEY_FILE: not set on this worker, and backups are encrypted; re-reads run on workers that hold the private key',
          );
        }
        return {
          copies,
          hostTaskQueue: hostRestoreTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          retryAttempts: config.backup.retryAttempts,
        };
      });
    },

    /** One copy, start to end, heartbeating; its work folder is removed whatever the outcome. */
    async rereadCopy(request: {
      database?: string;
      workflowId: string;
      copy: RereadCopy;
    }): Promise<{ fileBytes: number; archiveBytes: number; durationMs: number }> {
      return asActivity(secrets, () =>
        timed(async () => {
          const workDir = join(
            config.backup.dir,
            '.reread',
            request.workflowId.replace(/[^A-Za-z0-9._-]/g, '_'),
          );
          return heartbeating(async (record) =>
            rereadCopy(stores, request.copy, {
              workDir,
              toolsIn: config.database,
              privateKey,
              policy: await trustPolicyOf(config),
              signal: Context.current().cancellationSignal,
              onProgress: record,
            }),
          );
        }),
      );
    },
  };
}

export type RereadActivities = ReturnType<typeof createRereadActivities>;
