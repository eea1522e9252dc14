import { describe, expect, it } from 'vitest';
import { restoreLog, restoreLogName } from '../../../../src/core/restore/log.js';
import type { RestorePlan } from '../../../../src/core/restore/plan.js';
import type { RestoreStatus } from '../../../../src/core/restore/status.js';

const plan = {
  target: { host: 'db1', port: 5432, database: 'app', exists: true, create: false },
  scope: 'partial',
  tables: [{ schema: 'public', table: 'users', rowsInBackup: 3 }],
} as RestorePlan;

const logged = (status: Partial<RestoreStatus>) =>
  restoreLog({
    workflowId: 'restore-app-1',
    backupWhere: 's3://bucket/pg/app-backup-20240315-020000.dump.gpg',
    backupCreatedAt: '2024-03-15T02:00:00.000Z',
    finishedAt: '2024-03-16T08:00:00.000Z',
    status: { state: 'completed', phases: [], refused: [], targetTouched: false, ...status },
  }).split('\n');

describe('restoreLog', () => {
  it('records the backup, the target, who decided, what was refused and each phase', () => {
    expect(
      logged({
        plan,
        decision: { approved: true, by: 'alice', reason: 'incident 42', at: '2024-03-16T07:50:00.000Z' },
        refused: [
          { signal: 'approve', by: 'mallory', at: '2024-03-16T07:45:00.000Z', why: 'not an approver' },
        ],
        phases: [
          { phase: 'fetch', durationMs: 1234, detail: '900 bytes' },
          { phase: 'restore', durationMs: 56_789, detail: '1 table' },
        ],
      }),
    ).toEqual([
      'restore restore-app-1: completed at 2024-03-16T08:00:00.000Z',
      'backup: s3://bucket/pg/app-backup-20240315-020000.dump.gpg (taken 2024-03-15T02:00:00.000Z)',
      'target: app on db1:5432 (partial, 1 tables)',
      'approved by alice at 2024-03-16T07:50:00.000Z: incident 42',
      'refused approve from mallory at 2024-03-16T07:45:00.000Z: not an approver',
      'fetch          1.2 s  900 bytes',
      'restore       56.8 s  1 table',
      '',
    ]);
  });

  it('warns that a failed restore that touched the target may have left it partial', () => {
    const lines = logged({ state: 'failed', error: 'pg_restore: lost connection', targetTouched: true });
    expect(lines.slice(2)).toEqual([
      'error: pg_restore: lost connection',
      'the target may be partly restored: run the restore again',
      '',
    ]);
    expect(logged({ state: 'failed', error: 'no key', targetTouched: false })).not.toContain(
      'the target may be partly restored: run the restore again',
    );
  });

  it('says who rejected, even without a name to refuse or a reason', () => {
    const lines = logged({
      state: 'rejected',
      decision: { approved: false, by: 'bob', at: 'T' },
      refused: [{ signal: 'reject', at: 'T0', why: 'no name' }],
    });
    expect(lines).toContain('rejected by bob at T');
    expect(lines).toContain('refused reject from (no name) at T0: no name');
  });
});

describe('restoreLogName', () => {
  it('keeps only file-safe characters of the workflow id', () => {
    expect(restoreLogName('20240316-080000', 'restore/app 1:x')).toBe(
      'restore-20240316-080000-restore_app_1_x.log',
    );
  });
});
