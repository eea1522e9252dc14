import { describe, expect, it } from 'vitest';
import { mayApprove } from '../../../../src/core/restore/approval.js';

describe('mayApprove', () => {
  it('lets anyone approve without a list, and only the listed with one', () => {
    expect(mayApprove([], 'anyone')).toBe(true);
    expect(mayApprove(['alice'], 'alice')).toBe(true);
    expect(mayApprove(['alice'], 'mallory')).toBe(false);
  });
});
