import { describe, expect, it } from 'vitest';
import {
  accept,
  answerOf,
  approvalStatement,
  canonicalJson,
  malformed,
  mayApprove,
  parseApproverKeys,
  refusal,
  type GateState,
} from '../../../../src/core/restore/approval.js';

const at = '2026-12-07T18:00:00.000Z';
const gate = (overrides: Partial<GateState> = {}): GateState => ({
  open: true,
  policy: { approvers: ['alice', 'bob'], minApprovals: 1, signed: false },
  approvals: [],
  ...overrides,
});

describe('mayApprove', () => {
  it('lets anyone approve without a list, and only the listed with one', () => {
    expect(mayApprove([], 'anyone')).toBe(true);
    expect(mayApprove(['alice'], 'alice')).toBe(true);
    expect(mayApprove(['alice'], 'mallory')).toBe(false);
  });
});

describe('malformed', () => {
  it('refuses what is no decision at all: no name, another verb, a rejection without reason', () => {
    expect(malformed('approve', { by: 'alice' })).toBeUndefined();
    expect(malformed('approve', { by: '  ' })).toBe('no name given (by)');
    expect(malformed('approve', undefined)).toBe('no name given (by)');
    expect(malformed('delete', { by: 'alice' })).toMatch(/approve or reject/);
    expect(malformed('reject', { by: 'alice' })).toBe('a rejection needs a reason');
    expect(malformed('reject', { by: 'alice', reason: 'wrong backup' })).toBeUndefined();
    expect(malformed('approve', { by: 'alice', signature: 3 as unknown as string })).toMatch(/armored/);
  });
});

describe('refusal', () => {
  it('refuses before the plan is published, as a request that came too early', () => {
    expect(refusal(gate({ open: false }), 'approve', 'alice')).toMatchObject({
      kind: 'Configuration',
      why: expect.stringMatching(/not waiting for approval yet/),
    });
  });

  it('refuses a name not in RESTORE_APPROVERS as not permitted', () => {
    expect(refusal(gate(), 'approve', 'mallory')).toEqual({
      kind: 'NotPermitted',
      why: 'mallory is not in RESTORE_APPROVERS',
    });
    expect(refusal(gate({ policy: { approvers: [], minApprovals: 1, signed: false } }), 'approve', 'x')).toBe(
      undefined,
    );
  });

  it('refuses any answer once decided, and a second approval by the same approver', () => {
    const decided = gate({ decision: { approved: true, by: 'alice', at } });
    expect(refusal(decided, 'reject', 'bob')?.why).toBe('already approved by alice');
    const once = gate({
      policy: { approvers: ['alice', 'bob'], minApprovals: 2, signed: false },
      approvals: [{ approved: true, by: 'alice', at }],
    });
    expect(refusal(once, 'approve', 'alice')).toMatchObject({ kind: 'NotPermitted' });
    expect(refusal(once, 'approve', 'bob')).toBeUndefined();
    // Having approved does not stop one from rejecting after all.
    expect(refusal(once, 'reject', 'alice')).toBeUndefined();
  });
});

describe('accept (four-eyes)', () => {
  it('decides on the first approval when one is enough', () => {
    const next = accept(gate(), 'approve', { by: 'alice', reason: 'checked', at });
    expect(next.decision).toEqual({ approved: true, by: 'alice', reason: 'checked', at });
  });

  it('waits for RESTORE_MIN_APPROVALS distinct approvers', () => {
    const policy = { approvers: ['alice', 'bob'], minApprovals: 2, signed: false };
    const first = accept(gate({ policy }), 'approve', { by: 'alice', at });
    expect(first.decision).toBeUndefined();
    expect(answerOf({ policy, approvals: first.approvals })).toEqual({
      outcome: 'waiting',
      approvedBy: ['alice'],
      needed: 2,
    });
    const second = accept(gate({ policy, approvals: first.approvals }), 'approve', {
      by: 'bob',
      reason: 'ok',
      at,
    });
    expect(second.decision).toMatchObject({ approved: true, by: 'alice, bob', reason: 'bob: ok' });
  });

  it('ends with one rejection, whatever the approvals so far', () => {
    const policy = { approvers: ['alice', 'bob'], minApprovals: 2, signed: false };
    const approvals = [{ approved: true, by: 'alice', at }];
    const next = accept(gate({ policy, approvals }), 'reject', { by: 'bob', reason: 'wrong plan', at });
    expect(next.decision).toEqual({ approved: false, by: 'bob', reason: 'wrong plan', at });
    expect(answerOf({ policy, ...next }).outcome).toBe('rejected');
  });
});

describe('the signed statement', () => {
  it('names the restore, the plan digest, the approver and the decision, line by line', () => {
    const text = approvalStatement({
      workflowId: 'restore-db-1',
      planDigest: 'ab12',
      by: 'alice',
      decision: 'approve',
    });
    expect(text).toBe(
      'durable-backup restore decision\nrestore: restore-db-1\nplan: sha256:ab12\nby: alice\ndecision: approve\n',
    );
  });

  it('hashes the same plan the same way, whatever the order of its keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }], e: undefined })).toBe(
      '{"a":[{"c":"x","d":2}],"b":1}',
    );
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
});

describe('parseApproverKeys', () => {
  it('reads name=path entries, each name once', () => {
    expect(parseApproverKeys('alice=/k/a.asc, bob=/k/b.asc')).toEqual([
      { name: 'alice', keyFile: '/k/a.asc' },
      { name: 'bob', keyFile: '/k/b.asc' },
    ]);
    expect(parseApproverKeys('alice')).toBeUndefined();
    expect(parseApproverKeys('=/k/a.asc')).toBeUndefined();
    expect(parseApproverKeys('alice=/a,alice=/b')).toBeUndefined();
    expect(parseApproverKeys('')).toBeUndefined();
  });
});
