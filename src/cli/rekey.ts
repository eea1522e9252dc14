import type { Command } from 'commander';
import { connectClient, hasPollers, startRekey, waitForRekey, type RekeyResult } from '../client/index.js';
import { readTextFile, type Config } from '../config/index.js';
import { configError } from '../core/errors.js';
import type { RekeyPlan } from '../rekey/plan.js';
import { restoreTaskQueueName } from '../temporal/names.js';

// Key rotation (`backupctl rekey`): re-encrypt every retained backup to new recipients (docs/key-rotation.md).

interface RekeyFlags {
  recipientsFile?: string;
  recipient?: string[];
  wait?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export function registerRekeyCommand(program: Command, loadConfig: () => Config): void {
  program
    .command('rekey')
    .description(
      're-encrypt every retained backup to new recipients, checking each new file before the old one goes; run it again to finish an interrupted rotation',
    )
    .option('--recipients-file <file>', 'the new public keys, armored (one file may hold several)')
    .option(
      '--recipient <id>',
      'a new recipient from the local GnuPG keyring, as GPG_RECIPIENT (repeatable)',
      (value: string, all: string[] = []) => [...all, value],
    )
    .option('--dry-run', 'list what would be re-encrypted; nothing changes and no worker is needed')
    .option('--wait', 'wait for the rotation, print each backup, exit with its code')
    .option('--json', 'print the result as JSON')
    .action(async (flags: RekeyFlags) => {
      const cfg = loadConfig();
      const publicKeys = await newPublicKeys(flags);
      if (flags.dryRun) return dryRun(cfg, publicKeys, flags.json);
      const client = await connectClient(cfg.temporal);
      const handle = await startRekey(client, {
        database: cfg.database.name,
        publicKeys,
        taskQueue: cfg.temporal.taskQueue,
      });
      const link = `${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows/${handle.workflowId}`;
      if (!flags.wait) {
        console.log(
          flags.json
            ? JSON.stringify({ workflowId: handle.workflowId, ui: link })
            : `started ${handle.workflowId}\n${link}`,
        );
        return;
      }
      console.error(`started ${handle.workflowId}\n${link}`);
      const restoreQueue = restoreTaskQueueName(cfg.temporal.taskQueue);
      if (!(await hasPollers(client, cfg.temporal.namespace, restoreQueue))) {
        console.error(
          `warning: no worker polls ${restoreQueue}; the rotation waits until one does (a worker with GPG_PRIVATE_KEY_FILE and RESTORE_ENABLED=true)`,
        );
      }
      const result = await waitForRekey(handle);
      console.log(
        flags.json
          ? JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2)
          : formatRekey(result),
      );
    });
}

/** The keys of --recipients-file and of each --recipient, checked, as one armored text. */
async function newPublicKeys(flags: RekeyFlags): Promise<string> {
  // Loaded here: OpenPGP's modules take time that every other command need not pay.
  const [{ exportFromKeyring }, { readNewRecipients }] = await Promise.all([
    import('../crypto/keys.js'),
    import('../rekey/recipients.js'),
  ]);
  const texts: string[] = [];
  if (flags.recipientsFile) {
    const text = readTextFile(flags.recipientsFile, '--recipients-file');
    await readNewRecipients(text, `--recipients-file ${flags.recipientsFile}`);
    texts.push(text);
  }
  for (const recipient of flags.recipient ?? []) {
    const text = await exportFromKeyring(recipient, '--recipient');
    await readNewRecipients(text, `--recipient ${recipient}`);
    texts.push(text);
  }
  if (texts.length === 0) throw configError('rekey: name the new keys with --recipients-file or --recipient');
  return texts.join('\n');
}

async function dryRun(cfg: Config, publicKeys: string, json?: boolean): Promise<void> {
  const [{ planRekey }, { openStores }, { readNewRecipients }] = await Promise.all([
    import('../rekey/plan.js'),
    import('../storage/index.js'),
    import('../rekey/recipients.js'),
  ]);
  const { fingerprints } = await readNewRecipients(publicKeys, 'new recipients');
  const plan = await planRekey(cfg, openStores(cfg), fingerprints);
  console.log(
    json ? JSON.stringify({ recipients: fingerprints, ...plan }, null, 2) : formatPlan(plan, fingerprints),
  );
}

function formatPlan(plan: RekeyPlan, recipients: string[]): string {
  return [
    `to ${recipients.join(', ')}: to re-encrypt ${plan.backups.length}, done already ${plan.done}`,
    ...plan.backups.map((b) => `  rekey  ${b.key}  (${b.locations.join(', ')})`),
    ...plan.skipped.map((s) => `  skip   ${s.key}  ${s.reason}`),
  ].join('\n');
}

function formatRekey(result: RekeyResult): string {
  return [
    `to ${result.recipients.join(', ')}: re-encrypted ${result.rekeyed}, done already ${result.alreadyDone}`,
    ...result.backups.map(
      (b) =>
        `  ${b.outcome.padEnd(7)} ${b.key}  (${b.locations.join(', ')})${b.sha256 ? `  sha256 ${b.sha256}` : ''}${b.reason ? `  ${b.reason}` : ''}`,
    ),
    ...result.skipped.map((s) => `  skipped ${s.key}  ${s.reason}`),
  ].join('\n');
}
