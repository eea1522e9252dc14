import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKUP_KINDS } from '../../../src/core/classify.js';
import {
  decideRetention,
  type RetentionCandidate,
  type RetentionPolicy,
} from '../../../src/core/retention.js';

const policy: RetentionPolicy = { dailyDays: 7, weeklyWeeks: 4, monthlyMonths: 6, keepNewest: 3 };
const both = { local: true, remote: true };
const DAY = 24 * 60 * 60 * 1000;
const asOf = new Date('2024-09-30T12:00:00Z');

function backup(id: string, daysAgo: number, kind: RetentionCandidate['kind'] = 'daily'): RetentionCandidate {
  return { id, createdAt: new Date(asOf.getTime() - daysAgo * DAY), kind, copies: both, trusted: true };
}

const decided = (candidates: RetentionCandidate[], p = policy, at = asOf) =>
  Object.fromEntries(decideRetention(candidates, at, p, both).map((d) => [d.id, `${d.action}:${d.reason}`]));

describe('retention policy, by example (the guide table)', () => {
  it('keeps dailies 7 days, weeklies 4 weeks, monthlies 6 months', () => {
    const result = decided(
      [
        backup('n1', 0),
        backup('n2', 0.5),
        backup('n3', 0.7),
        backup('daily-6d', 6),
        backup('daily-8d', 8),
        backup('weekly-27d', 27, 'weekly'),
        backup('weekly-29d', 29, 'weekly'),
        backup('monthly-5mo', 150, 'monthly'),
        backup('monthly-7mo', 215, 'monthly'),
        backup('upgrade-1y', 365, 'pre-upgrade'),
      ],
      { ...policy, keepNewest: 3 },
    );
    expect(result).toEqual({
      n1: 'keep:newest',
      n2: 'keep:newest',
      n3: 'keep:newest',
      'daily-6d': 'keep:within-daily',
      'daily-8d': 'delete:expired',
      'weekly-27d': 'keep:within-weekly',
      'weekly-29d': 'delete:expired',
      'monthly-5mo': 'keep:within-monthly',
      'monthly-7mo': 'delete:expired',
      'upgrade-1y': 'keep:labeled',
    });
  });

  it('keeps an expired backup that is missing from one of the stores', () => {
    const lonely = { ...backup('lonely', 30), copies: { local: true, remote: false } };
    expect(decideRetention([lonely], asOf, { ...policy, keepNewest: 0 }, both)[0]).toMatchObject({
      action: 'keep',
      reason: 'sole-copy',
    });
    // Without a bucket configured, the local copy is all there is, and it expires.
    expect(
      decideRetention([lonely], asOf, { ...policy, keepNewest: 0 }, { local: true, remote: false })[0],
    ).toMatchObject({ action: 'delete' });
  });

  it('counts only trusted backups among the newest: planted ones do not push the real ones out', () => {
    const planted = [0.1, 0.2, 0.3].map((d, i) => ({ ...backup(`planted-${i}`, d), trusted: false }));
    const real = [backup('real-20d', 20), backup('real-21d', 21), backup('real-40d', 40)];
    expect(decided([...planted, ...real])).toMatchObject({
      'real-20d': 'keep:newest',
      'real-21d': 'keep:newest',
      'real-40d': 'keep:newest',
      // Untrusted ones still age out by their windows, as every backup does.
      'planted-0': 'keep:within-daily',
    });
  });
});

// Any set of backups over eight months, any as-of date inside it.
const candidates = fc
  .uniqueArray(
    fc.record({
      minutes: fc.integer({ min: 0, max: 8 * 31 * 24 * 60 }),
      kind: fc.constantFrom(...BACKUP_KINDS),
      local: fc.boolean(),
      remote: fc.boolean(),
    }),
    { selector: (r) => r.minutes, maxLength: 60 },
  )
  .map((records) =>
    records.map((r, i): RetentionCandidate => ({
      id: `b${i}`,
      createdAt: new Date(Date.UTC(2024, 0, 1) + r.minutes * 60_000),
      kind: r.kind,
      copies: { local: r.local, remote: r.remote },
      trusted: true,
    })),
  );
const asOfDates = fc.integer({ min: 0, max: 9 * 31 }).map((d) => new Date(Date.UTC(2024, 0, 1) + d * DAY));
const policies = fc.record({
  dailyDays: fc.integer({ min: 1, max: 30 }),
  weeklyWeeks: fc.integer({ min: 0, max: 10 }),
  monthlyMonths: fc.integer({ min: 0, max: 12 }),
  keepNewest: fc.integer({ min: 1, max: 5 }),
});

describe('retention policy, for any backups and any date', () => {
  it('never deletes the newest N backups taken by then', () => {
    fc.assert(
      fc.property(candidates, asOfDates, policies, (backups, at, p) => {
        const deleted = new Set(
          decideRetention(backups, at, p, both)
            .filter((d) => d.action === 'delete')
            .map((d) => d.id),
        );
        const newest = backups
          .filter((b) => b.kind !== 'pre-upgrade' && b.createdAt <= at)
          .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
          .slice(0, p.keepNewest);
        return newest.every((b) => !deleted.has(b.id));
      }),
    );
  });

  it('never deletes a backup inside its window, nor a labeled one, nor a sole copy', () => {
    fc.assert(
      fc.property(candidates, asOfDates, policies, (backups, at, p) => {
        const byId = new Map(backups.map((b) => [b.id, b]));
        return decideRetention(backups, at, p, both)
          .filter((d) => d.action === 'delete')
          .every((d) => {
            const b = byId.get(d.id)!;
            const age = at.getTime() - b.createdAt.getTime();
            return (
              b.kind !== 'pre-upgrade' &&
              age > p.dailyDays * DAY &&
              (b.kind !== 'weekly' || age > p.weeklyWeeks * 7 * DAY) &&
              (b.kind !== 'monthly' || age > p.monthlyMonths * 28 * DAY) &&
              b.copies.local &&
              b.copies.remote
            );
          });
      }),
    );
  });

  it('deletes nothing more on a second sweep', () => {
    fc.assert(
      fc.property(candidates, asOfDates, policies, (backups, at, p) => {
        const first = decideRetention(backups, at, p, both);
        const deleted = new Set(first.filter((d) => d.action === 'delete').map((d) => d.id));
        const survivors = backups.filter((b) => !deleted.has(b.id));
        return decideRetention(survivors, at, p, both).every((d) => d.action === 'keep');
      }),
    );
  });
});
