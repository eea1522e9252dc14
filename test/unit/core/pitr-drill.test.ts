import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { pitrDrillFacts, pitrDrillTarget } from '../../../src/core/pitr-drill.js';
import { desiredSchedules, scheduleKindsOf } from '../../../src/schedules/index.js';
import { PITR_DRILL_WORKFLOW } from '../../../src/temporal/names.js';

// The PITR drill's verdict: the moment recovered to, and the achieved RPO against its target.

describe('the PITR drill', () => {
  it('recovers to five minutes ago by default', () => {
    expect(pitrDrillTarget('2026-12-07T14:08:00.000Z')).toBe('2026-12-07T14:03:00.000Z');
    expect(pitrDrillTarget('2026-12-07T14:08:00.000Z', 60)).toBe('2026-12-07T14:07:00.000Z');
  });

  it('the RPO is the moment less the newest heartbeat recovered', () => {
    const facts = pitrDrillFacts({
      target: '2026-12-07T14:03:00.000Z',
      newestBeat: '2026-12-07T14:02:10.000Z',
      rpoTargetSeconds: 60,
    });
    expect(facts).toMatchObject({ rpoMs: 50_000, rpoTargetMs: 60_000, withinRpo: true });
    expect(
      pitrDrillFacts({
        target: '2026-12-07T14:03:00.000Z',
        newestBeat: '2026-12-07T14:01:00.000Z',
        rpoTargetSeconds: 60,
      }).withinRpo,
    ).toBe(false);
  });

  it('without a heartbeat the RPO is unknown, and not within target', () => {
    const facts = pitrDrillFacts({ target: '2026-12-07T14:03:00.000Z', rpoTargetSeconds: 60 });
    expect(facts.rpoMs).toBeUndefined();
    expect(facts.withinRpo).toBe(false);
  });
});

describe('the PITR drill schedule', () => {
  const env = { DB_NAME: 'app', BACKUP_DIR: '/tmp/backups' };
  it('daily with PITR=pgbackrest (PITR_DRILL_SCHEDULE), none without', () => {
    const config = loadConfig({
      env: { ...env, PITR: 'pgbackrest', PITR_REPO_PATH: '/tmp/repo' },
      envFile: undefined,
    });
    const drill = desiredSchedules(config).find((s) => s.kind === 'pitr-drill');
    expect(drill?.cron).toBe('30 4 * * *');
    expect(drill?.options.action.workflowType).toBe(PITR_DRILL_WORKFLOW);
    expect(scheduleKindsOf(config)).toContain('pitr-drill');
    const off = loadConfig({ env, envFile: undefined });
    expect(desiredSchedules(off).map((s) => s.kind)).not.toContain('pitr-drill');
    expect(scheduleKindsOf(off)).not.toContain('pitr-drill');
  });
});
