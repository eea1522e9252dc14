import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isScratchDatabaseOf, scratchDatabaseName, withinTarget } from '../../../src/core/drill.js';
import type { DrillReport } from '../../../src/core/outcome.js';
import { drillRunTag, readDrillReports, writeDrillReport } from '../../../src/drill/reports.js';
import { tempDir } from '../../helpers/files.js';

describe('scratchDatabaseName', () => {
  const at = new Date('2024-03-15T04:00:07Z');

  it('is <DB_NAME>_drill_<YYYYMMDD_HHMMSS>_<run> in the backup time zone', () => {
    expect(scratchDatabaseName('app', at, 'UTC', '5d1f03a7')).toBe('app_drill_20240315_040007_5d1f03a7');
    expect(scratchDatabaseName('app', at, 'Europe/Berlin', '5d1f03a7')).toBe(
      'app_drill_20240315_050007_5d1f03a7',
    );
  });

  it('keeps apart two drills started in the same second', () => {
    const names = ['drill-app-a', 'drill-app-b'].map((id) =>
      scratchDatabaseName('app', at, 'UTC', drillRunTag(id)),
    );
    expect(names[0]).not.toBe(names[1]);
    expect(names[0]).toBe(scratchDatabaseName('app', at, 'UTC', drillRunTag('drill-app-a')));
  });

  it('keeps letters, digits and underscores only', () => {
    expect(scratchDatabaseName('my-app "prod"', at, 'UTC', '5d1f03a7')).toBe(
      'my_app_prod__drill_20240315_040007_5d1f03a7',
    );
  });

  it('fits in 63 bytes, so the server never cuts it down to DB_NAME', () => {
    const long = 'a'.repeat(63);
    const name = scratchDatabaseName(long, at, 'UTC', '5d1f03a7');
    expect(name).toHaveLength(63);
    expect(name).not.toBe(long);
    expect(name.endsWith('_drill_20240315_040007_5d1f03a7')).toBe(true);
  });

  it("is recognised as that database's scratch name, and as no other's (isScratchDatabaseOf)", () => {
    for (const database of ['app', 'my-app "prod"', 'a'.repeat(63)]) {
      expect(isScratchDatabaseOf(scratchDatabaseName(database, at, 'UTC', '5d1f03a7'), database)).toBe(true);
    }
    expect(isScratchDatabaseOf(scratchDatabaseName('app', at, 'UTC', 'x1'), 'billing')).toBe(false);
    expect(isScratchDatabaseOf('app', 'app')).toBe(false);
    expect(isScratchDatabaseOf('app_drill_2024_x', 'app')).toBe(false);
  });
});

describe('withinTarget', () => {
  it('needs a measured RTO at or under the target', () => {
    expect(withinTarget(1_000, 1_000)).toBe(true);
    expect(withinTarget(1_001, 1_000)).toBe(false);
    expect(withinTarget(undefined, 1_000)).toBe(false);
  });
});

describe('drill reports on disk', () => {
  const report = (workflowId: string, ok: boolean): DrillReport => ({
    database: 'app',
    workflowId,
    startedAt: '2026-12-07T04:00:00.250Z',
    finishedAt: '2026-12-07T04:00:00.900Z',
    ok,
    scratchDatabase: 'app_drill_20261207_040000',
    phases: [],
    rtoTargetMs: 1_800_000,
    withinTarget: ok,
    scratchDropped: true,
  });

  it('keeps a report per drill, even for two started in the same second; a retry replaces its own', async () => {
    const dir = tempDir('reports');
    const first = await writeDrillReport(dir, 'UTC', report('drill-app-a', true));
    const second = await writeDrillReport(dir, 'UTC', report('drill-app-b', false));
    expect(first).not.toBe(second);
    expect(basename(first)).toMatch(/^drill-20261207-040000-[0-9a-f]{8}\.json$/);
    expect(await writeDrillReport(dir, 'UTC', report('drill-app-a', true))).toBe(first);
    const kept = await readDrillReports(dir);
    expect(kept.map((r) => r.report.workflowId).sort()).toEqual(['drill-app-a', 'drill-app-b']);
  });
});
