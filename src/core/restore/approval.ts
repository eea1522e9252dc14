// Who may approve a restore, and what the workflow keeps of each answer for the audit trail.

export interface ApprovalInput {
  by: string;
  reason?: string;
}

export interface Decision {
  approved: boolean;
  by: string;
  reason?: string;
  at: string;
}

/** A signal the workflow refused (unknown approver, no name, too early), kept for the audit trail. */
export interface RefusedSignal {
  signal: 'approve' | 'reject';
  by?: string;
  reason?: string;
  at: string;
  why: string;
}

/** Whether a name may approve: anyone when no list is configured. */
export function mayApprove(approvers: readonly string[], by: string): boolean {
  return approvers.length === 0 || approvers.includes(by);
}
