import { describe, expect, it } from 'vitest';
import { pitrDrillFacts, pitrDrillTarget } from '../../src/core/pitr-drill.js';

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
