// The restore's approval gate, workflow side: the approve/reject signals (temporal workflow signal,
// the UI) and the decide update (backupctl approve/reject, which waits for the verdict) share one
// handler. The rules are src/core/restore/approval.ts; a signature is checked by an activity on the
// restore queue, since a workflow can do no OpenPGP.
import { HandlerUnfinishedPolicy } from '@temporalio/common';
import { log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ResolvedRestore, RestoreActivities } from '../activities/restore.js';
import {
  accept,
  answerOf,
  malformed,
  refusal,
  type ApprovalAnswer,
  type ApprovalChoice,
  type ApprovalInput,
  type GateState,
} from '../src/core/restore/approval.js';
import type { RestoreStatus } from '../src/core/restore/status.js';
import { approvalCheckOptions, approveSignal, decideUpdate, rejectSignal } from '../src/temporal/names.js';
import { describeFailure, kindedFailure } from './failure.js';

export interface Approvals {
  /** Opens the gate (answers before the plan is published are refused) with the resolving worker's policy. */
  open(
    resolved: Pick<ResolvedRestore, 'approvers' | 'minApprovals' | 'signedApprovals'>,
    planDigest: string | undefined,
  ): void;
}

/**
 * Records every answer: accepted ones count toward the decision (RESTORE_MIN_APPROVALS approvals, or
 * one rejection); refused ones go to status.refused with why, for the audit trail.
 */
export function handleApprovals(status: RestoreStatus, taskQueue: string): Approvals {
  const gate: GateState = {
    open: false,
    policy: { approvers: [], minApprovals: 1, signed: false },
    approvals: [],
  };
  let digest: string | undefined;
  const checker = proxyActivities<RestoreActivities>(approvalCheckOptions(taskQueue));
  const current = (): GateState => ({
    ...gate,
    approvals: status.approvals ?? [],
    decision: status.decision,
  });

  async function receive(choice: ApprovalChoice, input: ApprovalInput): Promise<ApprovalAnswer> {
    const at = new Date().toISOString();
    const by = typeof input?.by === 'string' ? input.by.trim() : '';
    const reason = typeof input?.reason === 'string' ? input.reason : undefined;
    const refuse = (why: string, kind: 'Configuration' | 'NotPermitted', hint?: string) => {
      status.refused.push({ signal: choice, by: by || undefined, reason, at, why });
      log.warn('refused a restore decision', { signal: choice, by, why });
      return kindedFailure(kind, `refused: ${why}`, hint ? [hint] : undefined);
    };
    const bad = malformed(choice, input);
    if (bad) throw refuse(bad, 'Configuration');
    const early = refusal(current(), choice, by);
    if (early) throw refuse(early.why, early.kind, early.hint);
    if (gate.policy.signed) {
      const why = await checkSignature(choice, by, input.signature);
      if (why)
        throw refuse(
          why,
          'NotPermitted',
          'sign the statement of backupctl status ID --statement with your own key',
        );
      // Another answer may have decided while the signature was checked.
      const late = refusal(current(), choice, by);
      if (late) throw refuse(late.why, late.kind, late.hint);
    }
    const next = accept(current(), choice, { by, reason, at });
    status.approvals = next.approvals;
    if (next.decision) status.decision = next.decision;
    log.info(`restore ${choice === 'approve' ? 'approved' : 'rejected'}`, { by, reason });
    return answerOf(current());
  }

  async function checkSignature(
    choice: ApprovalChoice,
    by: string,
    signature?: string,
  ): Promise<string | undefined> {
    try {
      const { refusal: why } = await checker.checkApproval({
        workflowId: workflowInfo().workflowId,
        planDigest: digest ?? '',
        decision: choice,
        by,
        signature,
      });
      return why;
    } catch (error) {
      return `the signature could not be checked: ${describeFailure(error)}`;
    }
  }

  // A signal cannot answer: a refusal is recorded, and must not fail the workflow.
  const fromSignal = (choice: ApprovalChoice) => (input: ApprovalInput) =>
    receive(choice, input).then(
      () => undefined,
      () => undefined,
    );
  const abandon = { unfinishedPolicy: HandlerUnfinishedPolicy.ABANDON };
  setHandler(approveSignal, fromSignal('approve'), abandon);
  setHandler(rejectSignal, fromSignal('reject'), abandon);
  setHandler(decideUpdate, (request) => receive(request.decision, request), {
    // Only what claims nobody's authority (no name, no decision, a rejection without reason) is
    // refused here: a validator's rejection leaves no trace in the history. Everything else (a
    // refused approver, a bad signature, too early, decided already) is refused by the handler, which
    // records it in status.refused, in the history, before it fails the update.
    validator: (request) => {
      const bad = malformed(request?.decision, request);
      if (bad) throw kindedFailure('Configuration', `refused: ${bad}`);
    },
    ...abandon,
  });

  return {
    open(resolved, planDigest) {
      gate.policy = {
        approvers: resolved.approvers,
        minApprovals: resolved.minApprovals ?? 1,
        signed: resolved.signedApprovals ?? false,
      };
      digest = planDigest;
      gate.open = true;
      if (resolved.minApprovals !== undefined) {
        status.approvalsNeeded = gate.policy.minApprovals;
        status.approvals = status.approvals ?? [];
        status.signedApprovals = gate.policy.signed;
      }
    },
  };
}
