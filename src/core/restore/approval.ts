import type { ErrorKind } from '../errors.js';

// Who may approve a restore, how many must, what a signed approval says, and what the workflow keeps
// of each answer for the audit trail. Pure: the workflow, the worker's check and the CLI share it.

export type ApprovalChoice = 'approve' | 'reject';

/** What an approve/reject signal or the decide update carries. */
export interface ApprovalInput {
  by: string;
  reason?: string;
  /**
   * The approver's OpenPGP signature over approvalStatement(): a clearsigned statement (gpg
   * --clearsign) or an armored detached signature. Required when the worker has RESTORE_APPROVER_KEYS.
   */
  signature?: string;
}

/** The decide update's argument: the signal's, with the choice it names. */
export interface ApprovalRequest extends ApprovalInput {
  decision: ApprovalChoice;
}

/** The decide update's answer, once the workflow accepted the approval or rejection. */
export interface ApprovalAnswer {
  /** approved: enough approvals, the restore goes on; waiting: more approvers are needed. */
  outcome: 'approved' | 'rejected' | 'waiting';
  /** Who has approved so far. */
  approvedBy: string[];
  needed: number;
}

export interface Decision {
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
}

/** A signal or update the workflow refused (unknown approver, no name, too early), kept for the audit trail. */
export interface RefusedSignal {
  signal: ApprovalChoice;
  by?: string;
  reason?: string;
  at: string;
  why: string;
}

/** The gate's settings, from the worker that resolved the restore. */
export interface ApprovalPolicy {
  /** Who may approve or reject; empty: anyone. */
  approvers: readonly string[];
  /** Distinct approvers needed (RESTORE_MIN_APPROVALS); one valid rejection is always enough. */
  minApprovals: number;
  /** Whether approvals must carry a signature a worker checks (RESTORE_APPROVER_KEYS is set). */
  signed: boolean;
}

/** What the gate knows when an answer arrives. */
export interface GateState {
  /** False until the plan is published (an approver must be able to read it first). */
  open: boolean;
  policy: ApprovalPolicy;
  approvals: readonly Decision[];
  decision?: Decision;
}

/** Whether a name may approve: anyone when no list is configured. */
export function mayApprove(approvers: readonly string[], by: string): boolean {
  return approvers.length === 0 || approvers.includes(by);
}

/**
 * Why an answer is not a decision at all (no name, a rejection without reason): the update's
 * validator refuses these before anything is written, as they claim nobody's authority.
 */
export function malformed(choice: unknown, input: Partial<ApprovalInput> | undefined): string | undefined {
  if (choice !== 'approve' && choice !== 'reject') return 'the decision must be approve or reject';
  if (typeof input?.by !== 'string' || !input.by.trim()) return 'no name given (by)';
  if (input.reason !== undefined && typeof input.reason !== 'string') return 'the reason must be text';
  if (input.signature !== undefined && typeof input.signature !== 'string')
    return 'the signature must be armored text';
  if (choice === 'reject' && !input.reason?.trim()) return 'a rejection needs a reason';
  return undefined;
}

/** Why an answer is refused, as the error kind (exit code) and hint its sender gets. */
export interface Refusal {
  why: string;
  kind: Extract<ErrorKind, 'Configuration' | 'NotPermitted'>;
  hint?: string;
}

/**
 * Why an answer from `by` cannot count now, or undefined when it may (its signature, when one is
 * required, is checked apart: the workflow cannot do OpenPGP).
 */
export function refusal(state: GateState, choice: ApprovalChoice, by: string): Refusal | undefined {
  if (!state.open) {
    return {
      why: 'the restore is not waiting for approval yet (its plan is not published)',
      kind: 'Configuration',
      hint: 'wait until backupctl status ID shows awaiting-approval, and read the plan first',
    };
  }
  const { decision } = state;
  if (decision) {
    return {
      why: `already ${decision.approved ? 'approved' : 'rejected'} by ${decision.by}`,
      kind: 'Configuration',
      hint: 'a decision stands once made; start another restore to decide again',
    };
  }
  if (!mayApprove(state.policy.approvers, by))
    return { why: `${by} is not in RESTORE_APPROVERS`, kind: 'NotPermitted' };
  if (choice === 'approve' && state.approvals.some((a) => a.by === by)) {
    return {
      why: `${by} has approved already; ${state.policy.minApprovals} distinct approvers must (RESTORE_MIN_APPROVALS)`,
      kind: 'NotPermitted',
      hint: 'another approver must approve',
    };
  }
  return undefined;
}

/**
 * The gate after an accepted answer: a rejection decides at once; approvals decide once
 * minApprovals distinct approvers gave one.
 */
export function accept(
  state: GateState,
  choice: ApprovalChoice,
  answer: { by: string; reason?: string; at: string },
): { approvals: Decision[]; decision?: Decision } {
  if (choice === 'reject') {
    return { approvals: [...state.approvals], decision: { approved: false, ...answer } };
  }
  const approvals = [...state.approvals, { approved: true, ...answer }];
  if (approvals.length < Math.max(1, state.policy.minApprovals)) return { approvals };
  const reasons = approvals.flatMap((a) => (a.reason ? [`${a.by}: ${a.reason}`] : []));
  return {
    approvals,
    decision: {
      approved: true,
      by: approvals.map((a) => a.by).join(', '),
      reason: approvals.length === 1 ? answer.reason : reasons.join('; ') || undefined,
      at: answer.at,
    },
  };
}

/** The update's answer for the gate as it now stands. */
export function answerOf(state: Pick<GateState, 'approvals' | 'decision' | 'policy'>): ApprovalAnswer {
  const approvedBy = state.approvals.map((a) => a.by);
  const needed = Math.max(1, state.policy.minApprovals);
  if (!state.decision) return { outcome: 'waiting', approvedBy, needed };
  return { outcome: state.decision.approved ? 'approved' : 'rejected', approvedBy, needed };
}

/**
 * The text an approver signs: the restore's workflow id, the digest of the plan they were shown, their
 * name and their decision. Fixed, line by line, so that `gpg --clearsign` of `backupctl status ID
 * --statement approve --by NAME` and `backupctl approve --sign-with` sign the same bytes.
 */
export function approvalStatement(input: {
  workflowId: string;
  planDigest: string;
  by: string;
  decision: ApprovalChoice;
}): string {
  return [
    'durable-backup restore decision',
    `restore: ${input.workflowId}`,
    `plan: sha256:${input.planDigest}`,
    `by: ${input.by}`,
    `decision: ${input.decision}`,
    '',
  ].join('\n');
}

/** JSON with every object's keys sorted: the same plan gives the same bytes, hence the same digest. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `name=/path/to/key.asc,...` (RESTORE_APPROVER_KEYS); undefined when an entry is not of that form. */
export function parseApproverKeys(list: string): { name: string; keyFile: string }[] | undefined {
  const entries = list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const parsed = entries.map((entry) => {
    const at = entry.indexOf('=');
    return at > 0 ? { name: entry.slice(0, at).trim(), keyFile: entry.slice(at + 1).trim() } : undefined;
  });
  if (parsed.length === 0 || parsed.some((p) => !p || !p.name || !p.keyFile)) return undefined;
  const names = parsed.map((p) => p!.name);
  if (new Set(names).size !== names.length) return undefined;
  return parsed as { name: string; keyFile: string }[];
}
