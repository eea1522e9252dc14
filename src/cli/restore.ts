import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { Option, type Command } from 'commander';
import {
  approveRestore,
  connectClient,
  hasPollers,
  rejectRestore,
  restoreStatement,
  restoreStatus,
  startPitrRestore,
  startRestore,
  waitForRestore,
  type PitrRestoreRequest,
  type RestoreResult,
  type RestoreStatus,
} from '../client/index.js';
import { signStatement } from '../crypto/statement.js';
import type { ApprovalAnswer, ApprovalChoice } from '../core/restore/approval.js';
import type { Config } from '../config/index.js';
import { configError } from '../core/errors.js';
import { momentOf } from '../core/pitr-restore.js';
import type { RestoreRequest, RestoreSource } from '../core/restore/request.js';
import { restoreTaskQueueName } from '../temporal/names.js';
import { formatRestoreStatus } from './format.js';
import { ProgressDisplay } from './progress.js';

// `backupctl restore | approve | reject | status`: flags in, the client API, lines out.

interface RestoreFlags {
  file?: string;
  s3Key?: string;
  latest?: boolean;
  before?: string;
  targetDb?: string;
  targetHost?: string;
  targetPort?: string;
  createDb?: boolean;
  table?: string[];
  schema?: string[];
  useList?: string;
  noOwner?: boolean;
  dryRun?: boolean;
  force?: boolean;
  allowUnsigned?: boolean;
  jobs?: string;
  to?: string;
  cluster?: boolean;
  approvalTimeout?: string;
  wait?: boolean;
  json?: boolean;
  printId?: boolean;
}

interface DecisionFlags {
  by: string;
  reason?: string;
  signWith?: string;
  signature?: string;
}

interface StatusFlags {
  wait?: boolean;
  json?: boolean;
  statement?: ApprovalChoice;
  by?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRestoreCommands(program: Command, loadConfig: () => Config): void {
  program
    .command('restore')
    .description(
      'restore a backup: fetch, check, decrypt, validate and plan, then wait for approval (backupctl approve) unless --force',
    )
    .addOption(new Option('--file <path>', 'a backup file on the worker host (its manifest beside it)'))
    .addOption(new Option('--s3-key <key>', 'a backup in the bucket, with or without S3_PREFIX'))
    .addOption(new Option('--latest', 'the newest complete backup (the local copy when there is one)'))
    .addOption(new Option('--before <time>', 'with --latest: the newest taken before this ISO 8601 time'))
    .addOption(
      new Option(
        '--to <time>',
        'point-in-time recovery (PITR=pgbackrest): the database or --table as at this moment, such as "2026-12-07 14:03:00+00"',
      ),
    )
    .option(
      '--cluster',
      'the whole cluster from its physical backups, into PITR_PG_DATA on the worker host (the server must be stopped); with --to, as at that moment',
    )
    .option('--target-db <name>', 'restore into this database (default DB_NAME)')
    .option('--target-host <host>', 'restore into a database on this host (default DB_HOST)')
    .option('--target-port <port>', 'with --target-host: its port (default DB_PORT)')
    .option('--create-db', 'create the target database when it does not exist')
    .option('--table <name>', 'restore only this table (repeat for several)', collect)
    .option('--schema <name>', 'restore only this schema (repeat for several)', collect)
    .option('--use-list <file>', 'restore the entries of this pg_restore --list file (edited)')
    .option('--no-owner', 'do not restore ownership (pg_restore --no-owner)')
    .option('--dry-run', 'stop after the plan: the target is not touched')
    .option('--force', 'do not wait for approval (automated restores)')
    .option(
      '--allow-unsigned',
      'accept an unsigned backup (from before signing); logged, and refused by a production worker',
    )
    .option('--jobs <n>', 'pg_restore --jobs (default RESTORE_JOBS)')
    .option(
      '--approval-timeout <minutes>',
      'fail when nobody approves in time (default RESTORE_APPROVAL_TIMEOUT_MINUTES)',
    )
    .option('--wait', 'wait for the restore, show its progress, exit with its code')
    .option('--json', 'print the result as JSON')
    .option('--print-id', 'print only the workflow id, for scripts: id=$(backupctl restore ... --print-id)')
    .action(async (flags: RestoreFlags) => {
      const cfg = loadConfig();
      if (flags.printId && (flags.wait || flags.json)) {
        throw configError(
          '--print-id: not with --wait or --json (follow it with backupctl status ID --wait)',
        );
      }
      const client = await connectClient(cfg.temporal);
      const handle =
        flags.to !== undefined || flags.cluster
          ? await startPitrRestore(client, {
              ...momentRequest(flags),
              database: cfg.database.name,
              taskQueue: cfg.temporal.taskQueue,
            })
          : await startRestore(client, {
              ...(await restoreRequest(flags)),
              database: cfg.database.name,
              taskQueue: cfg.temporal.taskQueue,
            });
      const link = `${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows/${handle.workflowId}`;
      const started = `started ${handle.workflowId}\n${link}`;
      if (flags.printId) return console.log(handle.workflowId);
      if (!flags.wait) {
        console.log(flags.json ? JSON.stringify({ workflowId: handle.workflowId, ui: link }) : started);
        if (!flags.json && !flags.force && !flags.dryRun) console.log(approvalHint(handle.workflowId));
        return;
      }
      console.error(started);
      const restoreQueue = restoreTaskQueueName(cfg.temporal.taskQueue);
      if (!(await hasPollers(client, cfg.temporal.namespace, restoreQueue))) {
        console.error(
          `warning: no worker polls ${restoreQueue}; the restore waits until one does (backupctl worker with RESTORE_ENABLED=true)`,
        );
      }
      const display = new ProgressDisplay(process.stderr);
      const printed = new Set<string>();
      let phasesDone = 0;
      const show = (status: RestoreStatus) => {
        const lines = formatRestoreStatus(status).split('\n');
        if (status.state === 'awaiting-approval') lines.push(approvalHint(handle.workflowId));
        for (const line of lines.filter((l) => !printed.has(l) && !l.startsWith('  state:'))) {
          printed.add(line);
          display.line(line);
        }
        // The last reading of a phase that ended is stale: the next phase draws its own.
        if (status.phases.length !== phasesDone) display.running([]);
        phasesDone = status.phases.length;
      };
      const result = await (flags.json
        ? waitForRestore(handle)
        : waitForRestore(handle, show, (steps) => display.running(steps)).finally(() => display.end()));
      console.log(
        flags.json ? JSON.stringify({ workflowId: handle.workflowId, ...result }, null, 2) : describe(result),
      );
    });

  for (const decision of ['approve', 'reject'] as const) {
    const approving = decision === 'approve';
    const command = program
      .command(`${decision} <id>`)
      .description(
        approving
          ? 'approve a restore that waits for approval (after reading its plan: backupctl status ID); exits non-zero when the workflow refuses it'
          : 'reject a restore that waits for approval: it ends, and the target is not touched; exits non-zero when the workflow refuses it',
      )
      .requiredOption(
        '--by <name>',
        `who ${approving ? 'approves' : 'rejects'} (checked against RESTORE_APPROVERS)`,
      );
    if (approving) command.option('--reason <text>', 'why, for the history and the log');
    else command.requiredOption('--reason <text>', 'why');
    command
      .option(
        '--sign-with <file>',
        'sign with this armored OpenPGP secret key (passphrase: APPROVER_KEY_PASSPHRASE or _FILE); needed when the worker has RESTORE_APPROVER_KEYS',
      )
      .option(
        '--signature <file>',
        `send this signature (gpg --clearsign of backupctl status ID --statement ${decision} --by NAME)`,
      )
      .action(async (id: string, options: DecisionFlags) => {
        const cfg = loadConfig();
        const client = await connectClient(cfg.temporal);
        const input = {
          by: options.by,
          reason: options.reason,
          signature: await signature(client, cfg, id, decision, options),
        };
        const answer = approving
          ? await approveRestore(client, id, input)
          : await rejectRestore(client, id, input);
        console.log(describeAnswer(id, answer));
      });
  }

  program
    .command('status <id>')
    .description(
      'show a restore: its state (such as awaiting-approval), plan and its digest, approvals so far, decision and phases',
    )
    .option('--wait', 'wait until the restore has ended, then show it and exit with its code')
    .option('--json', 'print as JSON')
    .addOption(
      new Option(
        '--statement <decision>',
        'print only the statement an approver signs (gpg --clearsign) for this decision; with --by',
      ).choices(['approve', 'reject']),
    )
    .option('--by <name>', 'with --statement: who signs it')
    .action(async (id: string, options: StatusFlags) => {
      const client = await connectClient(loadConfig().temporal);
      if (options.statement) {
        return void process.stdout.write(
          await restoreStatement(client, id, options.statement, options.by ?? ''),
        );
      }
      // With --wait, a failed restore's own error (and exit code), raised once the status is shown.
      const failure = options.wait
        ? await waitForRestore(client.workflow.getHandle(id)).then(
            () => undefined,
            (error: unknown) => error,
          )
        : undefined;
      const overview = await restoreStatus(client, id);
      if (options.json) console.log(JSON.stringify(overview, null, 2));
      else {
        console.log(`${id}: ${overview.execution.toLowerCase()}`);
        if (overview.status) console.log(formatRestoreStatus(overview.status));
      }
      if (failure) throw failure;
    });
}

/** The first of these flags that was given. */
function firstGiven(flags: Record<string, unknown>): string | undefined {
  return Object.entries(flags).find(([, value]) => value !== undefined)?.[0];
}

/** --to: the moment, the target and --table; a logical backup's flags do not apply. */
function momentRequest(flags: RestoreFlags): PitrRestoreRequest {
  const logical = firstGiven({
    '--file': flags.file,
    '--s3-key': flags.s3Key,
    '--latest': flags.latest,
    '--schema': flags.schema,
    '--use-list': flags.useList,
    '--allow-unsigned': flags.allowUnsigned,
  });
  if (logical) throw configError(`--to: not with ${logical} (a restore to a moment reads no logical backup)`);
  const database = flags.cluster
    ? firstGiven({
        '--table': flags.table,
        '--target-db': flags.targetDb,
        '--target-host': flags.targetHost,
        '--create-db': flags.createDb,
      })
    : undefined;
  if (database)
    throw configError(`--cluster: not with ${database} (the whole cluster goes into PITR_PG_DATA)`);
  return {
    ...requestCommon(flags),
    cluster: flags.cluster,
    to: flags.to === undefined ? undefined : momentOf(flags.to),
  };
}

/** What every restore request says alike: the target, which tables, approval and ownership. */
function requestCommon(flags: RestoreFlags): Omit<RestoreRequest, 'source'> {
  return {
    target: {
      database: flags.targetDb,
      host: flags.targetHost,
      port: flags.targetPort === undefined ? undefined : port(flags.targetPort),
    },
    createDb: flags.createDb,
    tables: flags.table,
    // commander turns --no-owner into owner: false.
    noOwner: (flags as { owner?: boolean }).owner === false,
    dryRun: flags.dryRun,
    force: flags.force,
    approvalTimeoutSeconds: flags.approvalTimeout === undefined ? undefined : duration(flags.approvalTimeout),
  };
}

async function restoreRequest(flags: RestoreFlags): Promise<RestoreRequest> {
  return {
    ...requestCommon(flags),
    source: source(flags),
    schemas: flags.schema,
    useList: flags.useList === undefined ? undefined : await readList(flags.useList),
    allowUnsigned: flags.allowUnsigned,
    jobs: flags.jobs === undefined ? undefined : wholeNumber('--jobs', flags.jobs),
  };
}

function source(flags: RestoreFlags): RestoreSource {
  const given = [flags.file, flags.s3Key, flags.latest].filter((v) => v !== undefined).length;
  if (given !== 1) throw configError('restore: give exactly one of --file, --s3-key or --latest');
  if (flags.before !== undefined && !flags.latest) throw configError('--before: only with --latest');
  if (flags.file !== undefined) return { file: flags.file };
  if (flags.s3Key !== undefined) return { s3Key: flags.s3Key };
  return { latest: true, ...(flags.before ? { before: flags.before } : {}) };
}

async function readList(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => {
    throw configError(`--use-list: ${path}: cannot be read`);
  });
  if (!/^\s*\d+;/m.test(text)) throw configError(`--use-list: ${path}: not a pg_restore --list file`);
  return text;
}

function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw configError(`${flag}: "${text}" is not a whole number`);
  return Number(text);
}

/** 90s, 30m, 24h; a bare number is minutes. */
function duration(text: string): number {
  const match = /^(\d+)([smh]?)$/.exec(text);
  if (!match || Number(match[1]) === 0) {
    throw configError(`--approval-timeout: "${text}" is not a duration such as 90s, 30m or 24h`);
  }
  return Number(match[1]) * { s: 1, m: 60, '': 60, h: 3600 }[match[2] as 's' | 'm' | '' | 'h'];
}

function port(text: string): number {
  const value = wholeNumber('--target-port', text);
  if (value < 1 || value > 65535) throw configError('--target-port: expected 1 to 65535');
  return value;
}

function approvalHint(id: string): string {
  return [
    `read the plan:  backupctl status ${id}`,
    `approve:        backupctl approve ${id} --by NAME [--reason TEXT] [--sign-with KEY.asc | --signature FILE]`,
    `reject:         backupctl reject ${id} --by NAME --reason TEXT`,
  ].join('\n');
}

/** The signature to send: made here (--sign-with), read from gpg's output (--signature), or none. */
async function signature(
  client: Client,
  cfg: Config,
  id: string,
  decision: ApprovalChoice,
  options: DecisionFlags,
): Promise<string | undefined> {
  if (options.signWith && options.signature) throw configError('--sign-with and --signature: choose one');
  if (options.signature) return readFlagFile('--signature', options.signature);
  if (!options.signWith) return undefined;
  const key = await readFlagFile('--sign-with', options.signWith);
  const statement = await restoreStatement(client, id, decision, options.by);
  return signStatement(statement, key, cfg.restore.approverKeyPassphrase, `--sign-with: ${options.signWith}`);
}

async function readFlagFile(flag: string, path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => {
    throw configError(`${flag}: ${path}: cannot be read`);
  });
}

function describeAnswer(id: string, answer: ApprovalAnswer): string {
  const by = answer.approvedBy.join(', ');
  if (answer.outcome === 'rejected') return `rejected: ${id} ends, and the target is not touched`;
  if (answer.outcome === 'approved')
    return `approved by ${by}: ${id} goes on (backupctl status ${id} --wait)`;
  const missing = answer.needed - answer.approvedBy.length;
  return `approved by ${by} (${answer.approvedBy.length} of ${answer.needed}): ${id} waits for ${missing} more approver${missing === 1 ? '' : 's'}`;
}

function describe(result: RestoreResult): string {
  const { status } = result;
  const lines = [
    status.state === 'dry-run-completed' ? 'dry run complete: nothing was changed' : 'restore complete',
    formatRestoreStatus(status),
    `  RTO:  ${(result.rtoMs / 1000).toFixed(1)} s (without ${(result.approvalWaitMs / 1000).toFixed(1)} s waiting for approval)`,
  ];
  // A restore to a moment copies out of a scratch server: it writes no pg_restore log.
  if (!status.pitrPlan) lines.push(`  log:  ${result.logPath}`);
  return lines.join('\n');
}
