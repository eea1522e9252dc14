import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import * as openpgp from 'openpgp';
import { configError } from '../core/errors.js';
import { approvalStatement, canonicalJson, type ApprovalChoice } from '../core/restore/approval.js';
import { statementRefusal } from '../crypto/statement.js';

// The worker's side of signed approvals: the digest a statement names, and the check of a signature
// against the approver's key in RESTORE_APPROVER_KEYS.

/** SHA-256 (hex) of the plan's canonical JSON: published with the plan, named by signed approvals. */
export function planDigest(plan: unknown): string {
  return createHash('sha256').update(canonicalJson(plan)).digest('hex');
}

export interface ApprovalToCheck {
  workflowId: string;
  planDigest: string;
  decision: ApprovalChoice;
  by: string;
  signature?: string;
}

/** Why a signed approval does not count, or undefined when `by`'s key signed its statement. */
export async function signedApprovalRefusal(
  config: Config,
  check: ApprovalToCheck,
): Promise<string | undefined> {
  const entry = config.restore.approverKeys.find((k) => k.name === check.by);
  if (!entry) return `${check.by} has no key in RESTORE_APPROVER_KEYS`;
  if (!check.signature?.trim()) {
    return 'not signed; this worker counts only approvals signed with a key of RESTORE_APPROVER_KEYS (backupctl approve --sign-with or --signature)';
  }
  const key = await readFile(entry.keyFile, 'utf8').catch(() => undefined);
  if (key === undefined) return `RESTORE_APPROVER_KEYS: ${entry.keyFile}: cannot be read`;
  return statementRefusal(approvalStatement(check), check.signature, key, entry.keyFile);
}

/**
 * At worker start: every key file of RESTORE_APPROVER_KEYS holds an armored public key. A typo would
 * otherwise show only when someone approves, with a restore waiting.
 */
export async function checkApproverKeys(config: Config): Promise<void> {
  for (const { name, keyFile } of config.restore.approverKeys) {
    const armored = await readFile(keyFile, 'utf8').catch(() => undefined);
    if (armored === undefined) throw configError(`RESTORE_APPROVER_KEYS: ${name}: ${keyFile} cannot be read`);
    if (!(await openpgp.readKey({ armoredKey: armored }).then(Boolean, () => false))) {
      throw configError(`RESTORE_APPROVER_KEYS: ${name}: ${keyFile} is not an armored OpenPGP public key`);
    }
  }
}

/** Who approves a restore on this worker, how many, signed or not, and how long the run waits. */
export function approvalSettings(config: Config, requestedTimeoutSeconds?: number) {
  return {
    approvers: config.restore.approvers,
    minApprovals: config.restore.minApprovals,
    signedApprovals: config.restore.approverKeys.length > 0,
    approvalTimeoutSeconds: requestedTimeoutSeconds ?? config.restore.approvalTimeoutMinutes * 60,
  };
}
