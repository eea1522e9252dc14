import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import { configError } from '../src/core/errors.js';
import type { PrivateKey } from '../src/crypto/keys.js';
import { rekeyBackup, type RekeyedBackup } from '../src/rekey/backup.js';
import { planRekey, type RekeyItem, type RekeyPlan } from '../src/rekey/plan.js';
import type { RekeyProgress } from '../src/rekey/work.js';
import { readNewRecipients } from '../src/rekey/recipients.js';
import type { Stores } from '../src/storage/index.js';
import { hostTaskQueueName } from '../src/temporal/names.js';
import { asActivity } from './failure.js';
import { heartbeating } from './heartbeat.js';
import { trustPolicyOf, type SigningKey } from '../src/crypto/signing.js';

export interface RekeyActivityPlan extends RekeyPlan {
  /** The worker that planned holds the private key and BACKUP_DIR: it rotates every backup. */
  hostTaskQueue: string;
  retryAttempts: number;
  /** The new recipients' fingerprints. */
  recipients: string[];
}

/** Public keys only: they are no secret, and the workflow's history shows which keys a rotation used. */
export interface RekeyRequest {
  database?: string;
  /** The new recipients, armored public keys. */
  publicKeys: string;
}

export function createRekeyActivities(
  config: Config,
  stores: Stores,
  privateKey: PrivateKey,
  signingKey?: SigningKey,
) {
  const secrets = secretsOf(config);
  const recipientsOf = (request: RekeyRequest) => readNewRecipients(request.publicKeys, 'new recipients');

  return {
    /** Runs on the restore queue: what is left to rotate; refuses at once without the private key. */
    async planRekey(request: RekeyRequest): Promise<RekeyActivityPlan> {
      return asActivity(secrets, async () => {
        const recipients = await recipientsOf(request);
        const plan = await planRekey(config, stores, recipients.fingerprints);
        if (plan.backups.length > 0 && !(await privateKey())) {
          throw configError(
            'GPG_PRIVATE_KEY_FILE: not set on this worker; a key rotation runs on workers that hold the current private key',
          );
        }
        return {
          ...plan,
          recipients: recipients.fingerprints,
          hostTaskQueue: hostTaskQueueName(config.temporal.taskQueue, config.workerHostId),
          retryAttempts: config.backup.retryAttempts,
        };
      });
    },

    /** One backup in every store, heartbeating; a retry resumes from the step (and upload) it reached. */
    async rekeyBackup(request: RekeyRequest & { backup: RekeyItem }): Promise<RekeyedBackup> {
      return asActivity(secrets, async () => {
        const recipients = await recipientsOf(request);
        const resumeFrom = Context.current().info.heartbeatDetails as RekeyProgress | undefined;
        return heartbeating(async (record) =>
          rekeyBackup(stores, request.backup, {
            recipients,
            opener: await privateKey(),
            trust: { policy: await trustPolicyOf(config), signingKey },
            workDir: join(config.backup.dir, '.rekey'),
            signal: Context.current().cancellationSignal,
            resumeFrom,
            onProgress: record,
          }),
        );
      });
    },
  };
}

export type RekeyActivities = ReturnType<typeof createRekeyActivities>;
