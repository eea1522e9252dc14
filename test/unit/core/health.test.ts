import { describe, expect, it } from 'vitest';
import {
  backupAgeCheck,
  copiesCheck,
  drillCheck,
  formatCheck,
  freeSpaceCheck,
  schedulesCheck,
  type ScheduleFacts,
} from '../../../src/core/health.js';
import { MANIFEST_FORMAT_VERSION, type Manifest } from '../../../src/core/manifest.js';
import type { DrillReport } from '../../../src/core/outcome.js';
import {
  newestComplete,
  reconcileCopies,
  type BackupCopies,
  type StoreCopy,
} from '../../../src/core/reconcile.js';

const now = new Date('2026-03-15T12:00:00Z');
const hoursAgo = (hours: number) => new Date(now.getTime() - hours * 3_600_000).toISOString();

function manifest(key: string, createdAt: string, overrides: Partial<Manifest['file']> = {}): Manifest {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    database: 'app',
    serverVersion: '15',
    pgDumpVersion: '15',
    kind: 'daily',
    createdAt,
    completedAt: createdAt,
    compression: 6,
    archive: { bytes: 90, sha256: 'a'.repeat(64), tocEntries: 3 },
    file: { name: key, key, bytes: 100, sha256: 'f'.repeat(64), ...overrides },
    encryption: { method: 'none', recipients: [] },
    tables: [],
    remote: { location: 's3://b/p/', key, storageClass: 'STANDARD' },
  };
}

const copy = (m: Manifest, size = m.file.bytes, storageClass = 'STANDARD'): StoreCopy => ({
  manifest: m,
  archive: { size, storageClass },
});

function backup(
  key: string,
  createdAt: string,
  sides: Partial<Omit<BackupCopies, 'manifestKey'>>,
): BackupCopies {
  return { manifestKey: `${key}.manifest.json`, ...sides };
}

describe('3-2-1 reconciliation', () => {
  const m = manifest('app-1.dump', hoursAgo(2));

  it('finds nothing when both copies are complete and alike', () => {
    const report = reconcileCopies([backup('app-1', m.createdAt, { local: copy(m), remote: copy(m) })], true);
    expect(report).toEqual({ checked: 1, drift: [] });
  });

  it('reports a missing or damaged remote copy as repairable, from a complete local one', () => {
    const { drift } = reconcileCopies(
      [
        backup('app-1', m.createdAt, { local: copy(m) }),
        backup('app-2', m.createdAt, { local: copy(m), remote: copy(m, 42) }),
        backup('app-3', m.createdAt, { local: copy(m), remote: { manifest: m } }),
      ],
      true,
    );
    expect(drift.map((d) => [d.problems, d.repairable])).toEqual([
      [['no remote copy'], true],
      [['remote archive has 42 bytes, its manifest says 100'], true],
      [['remote archive missing (its manifest is there)'], true],
    ]);
  });

  it('reports manifests that disagree on the checksum, and a wrong storage class (not repairable)', () => {
    const other = manifest('app-1.dump', m.createdAt, { sha256: 'e'.repeat(64) });
    const { drift } = reconcileCopies(
      [
        backup('app-1', m.createdAt, { local: copy(m), remote: copy(other) }),
        backup('app-2', m.createdAt, { local: copy(m), remote: copy(m, 100, 'GLACIER') }),
      ],
      true,
    );
    expect(drift[0]).toMatchObject({ repairable: true });
    expect(drift[0]!.problems[0]).toMatch(
      /^checksums differ: local sha256 ffffffffffff…, remote eeeeeeeeeeee…$/,
    );
    expect(drift[1]).toMatchObject({
      problems: ['remote storage class GLACIER, the manifest says STANDARD'],
      repairable: false,
    });
  });

  it('reports untrusted copies: a trusted local one repairs an untrusted remote, never the other way', () => {
    const forged = (c: StoreCopy): StoreCopy => ({ ...c, untrusted: 'unsigned' });
    const { drift } = reconcileCopies(
      [
        backup('app-1', m.createdAt, { local: copy(m), remote: forged(copy(m)) }),
        backup('app-2', m.createdAt, { local: forged(copy(m)), remote: copy(m) }),
        backup('app-3', m.createdAt, { local: forged(copy(m)) }),
      ],
      true,
    );
    expect(drift.map((d) => [d.problems, d.repairable])).toEqual([
      [['remote copy not trusted: unsigned'], true],
      [['local copy not trusted: unsigned'], false],
      [['local copy not trusted: unsigned', 'no remote copy'], false],
    ]);
  });

  it('reports a missing local copy, which --repair cannot fix', () => {
    const { drift } = reconcileCopies([backup('app-1', m.createdAt, { remote: copy(m) })], true);
    expect(drift).toEqual([
      {
        manifestKey: 'app-1.manifest.json',
        dataKey: 'app-1.dump',
        createdAt: m.createdAt,
        problems: ['no local copy'],
        repairable: false,
      },
    ]);
  });

  it('leaves out backups complete nowhere, and compares nothing remote without a bucket', () => {
    const all = [
      backup('app-1', m.createdAt, { local: copy(m, 5) }),
      backup('app-2', m.createdAt, { local: copy(m) }),
    ];
    expect(reconcileCopies(all, true)).toMatchObject({
      checked: 1,
      drift: [{ manifestKey: 'app-2.manifest.json' }],
    });
    expect(reconcileCopies(all, false)).toEqual({ checked: 1, drift: [] });
  });

  it('finds the newest backup complete in either store', () => {
    const older = manifest('app-old.dump', hoursAgo(30));
    const newer = manifest('app-new.dump', hoursAgo(1));
    const broken = manifest('app-broken.dump', hoursAgo(0.5));
    expect(
      newestComplete([
        backup('old', older.createdAt, { local: copy(older) }),
        backup('new', newer.createdAt, { remote: copy(newer) }),
        backup('broken', broken.createdAt, { local: copy(broken, 1) }),
      ])?.file.key,
    ).toBe('app-new.dump');
    expect(newestComplete([])).toBeUndefined();
  });
});

describe('health checks', () => {
  it('formats one line per check: ok|FAIL <database>/<check>: <detail>', () => {
    expect(formatCheck('app', { check: 'drill', ok: false, detail: 'no successful drill yet' })).toBe(
      'FAIL app/drill: no successful drill yet',
    );
    expect(formatCheck('app', { check: 'disk-space', ok: true, detail: 'x' })).toBe('ok app/disk-space: x');
  });

  it('(a) passes a backup younger than the limit, fails an older one or none', () => {
    expect(backupAgeCheck(manifest('k.dump', hoursAgo(29.9)), 30, now)).toMatchObject({
      ok: true,
      detail: 'newest complete backup k.dump is 29.9 h old (limit 30 h)',
    });
    expect(backupAgeCheck(manifest('k.dump', hoursAgo(30)), 30, now).ok).toBe(false);
    expect(backupAgeCheck(undefined, 30, now)).toEqual({
      check: 'backup-age',
      ok: false,
      detail: 'no complete backup',
    });
  });

  it('(b) names the first few drifting backups, how many more, and how many --repair can fix', () => {
    const drift = ['a', 'b', 'c', 'd'].map((k) => ({
      manifestKey: `${k}.manifest.json`,
      dataKey: `${k}.dump`,
      createdAt: hoursAgo(1),
      problems: ['no remote copy'],
      repairable: k !== 'd',
    }));
    const result = copiesCheck({ checked: 9, drift }, true);
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(
      '4 of 9 backups drift: a.dump (no remote copy), b.dump (no remote copy), c.dump (no remote copy), and 1 more; 3 repairable with --repair',
    );
    expect(copiesCheck({ checked: 9, drift: [] }, true).ok).toBe(true);
    expect(copiesCheck({ checked: 2, drift: [] }, false).detail).toContain('local only');
  });

  it('(c) compares the free space with the minimum, in MiB', () => {
    expect(freeSpaceCheck('/b', 2048 * 1024 * 1024, 1024)).toMatchObject({
      ok: true,
      detail: '2048 MiB free in /b (minimum 1024 MiB)',
    });
    expect(freeSpaceCheck('/b', 1023.5 * 1024 * 1024, 1024).ok).toBe(false);
  });

  describe('(d) schedules', () => {
    const active = (id: string, runs: ScheduleFacts['runs'] = []): ScheduleFacts => ({
      id,
      state: 'active',
      runs,
    });

    it('passes active schedules whose last finished run completed, even with a run going on', () => {
      const result = schedulesCheck([
        active('backup-app', [
          { workflowId: 'w3', status: 'RUNNING' },
          { workflowId: 'w2', status: 'COMPLETED' },
          { workflowId: 'w1', status: 'FAILED' },
        ]),
        active('retention-app'),
      ]);
      expect(result).toEqual({
        check: 'schedules',
        ok: true,
        detail: 'backup-app, retention-app active; 1 with a finished run, none failed last',
      });
    });

    it('fails a missing or paused schedule, and one whose last finished run failed', () => {
      const result = schedulesCheck([
        { id: 'backup-app', state: 'missing', runs: [] },
        { id: 'retention-app', state: 'paused', note: 'maintenance', runs: [] },
        active('drill-app', [
          { workflowId: 'w5', status: 'RUNNING' },
          { workflowId: 'w4', status: 'TIMED_OUT' },
        ]),
        active('reread-app', [{ workflowId: 'w6', status: 'NOT_FOUND' }]),
      ]);
      expect(result.ok).toBe(false);
      expect(result.detail).toBe(
        'backup-app missing (backupctl schedules apply); retention-app paused: maintenance; drill-app: last run w4 timed out',
      );
    });
  });

  describe('(e) drills', () => {
    const report = (finishedHoursAgo: number, ok: boolean, database = 'app'): DrillReport => ({
      database,
      workflowId: 'drill-1',
      startedAt: hoursAgo(finishedHoursAgo + 0.1),
      finishedAt: hoursAgo(finishedHoursAgo),
      ok,
      scratchDatabase: 'scratch',
      phases: [],
      rtoTargetMs: 3_600_000,
      withinTarget: ok,
      scratchDropped: true,
      error: ok ? undefined : 'pg_restore failed',
    });

    it('passes a recent successful drill', () => {
      expect(drillCheck([report(50, true), report(2, true)], 30, now)).toMatchObject({
        ok: true,
        detail: 'newest successful drill 2.0 h old (limit 30 h)',
      });
    });

    it('fails without a successful drill, with an old one, and says when the last one failed', () => {
      expect(drillCheck([], 30, now).detail).toBe('no successful drill yet');
      expect(drillCheck([report(1, false)], 30, now).detail).toBe(
        'no successful drill yet; the last drill failed: pg_restore failed',
      );
      expect(drillCheck([report(31, true), report(1, false)], 30, now)).toMatchObject({
        ok: false,
        detail: 'newest successful drill 31.0 h old (limit 30 h); the last drill failed: pg_restore failed',
      });
    });
  });
});
