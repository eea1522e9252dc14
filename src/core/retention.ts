import type { BackupKind } from './classify.js';

// The retention decision, pure: given the complete backups and a date, which to keep and why.
// The sweep (activities/retention.ts) only lists, asks this, and deletes.

export interface RetentionPolicy {
  dailyDays: number;
  weeklyWeeks: number;
  monthlyMonths: number;
  /** The newest N complete, trusted backups are kept whatever their age. */
  keepNewest: number;
}

export interface RetentionCandidate {
  /** The manifest's key: what identifies a backup in every store. */
  id: string;
  createdAt: Date;
  kind: BackupKind;
  /** Where a verified copy is (manifest and data of the recorded size). */
  copies: { local: boolean; remote: boolean };
  /**
   * Signed by a trusted key (src/core/trust.ts). Only these count among the newest: whoever can write
   * the bucket could otherwise plant recent backups that push every real one out of RETENTION_KEEP_NEWEST.
   */
  trusted: boolean;
}

export type RetentionReason =
  | 'newest'
  | 'labeled'
  | 'within-daily'
  | 'within-weekly'
  | 'within-monthly'
  | 'not-yet-taken'
  | 'sole-copy'
  | 'expired';

export interface RetentionDecision {
  id: string;
  action: 'keep' | 'delete';
  reason: RetentionReason;
  /** ISO end of the longest window the backup is in; undefined when it is kept for another reason. */
  keepUntil?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function addMonths(date: Date, months: number): Date {
  const result = new Date(date);
  result.setUTCMonth(result.getUTCMonth() + months);
  return result;
}

/**
 * The windows a backup is in, longest last. Every backup is a daily one; a weekly one also counts
 * as weekly, a monthly one also as monthly: monthly beats weekly beats daily.
 */
function windows(candidate: RetentionCandidate, policy: RetentionPolicy): [RetentionReason, Date][] {
  const from = candidate.createdAt.getTime();
  const result: [RetentionReason, Date][] = [['within-daily', new Date(from + policy.dailyDays * DAY_MS)]];
  if (candidate.kind === 'weekly')
    result.push(['within-weekly', new Date(from + policy.weeklyWeeks * 7 * DAY_MS)]);
  if (candidate.kind === 'monthly')
    result.push(['within-monthly', addMonths(candidate.createdAt, policy.monthlyMonths)]);
  return result.sort((a, b) => a[1].getTime() - b[1].getTime());
}

/**
 * Decides, for every backup, keep or delete and why, as of a date:
 * - labeled (pre-upgrade) backups are kept until deleted by hand;
 * - the newest `keepNewest` trusted backups (taken by as-of) are kept;
 * - a backup inside any of its windows (daily, weekly, monthly) is kept, the window ends inclusive;
 * - an expired backup whose copy is missing in one of the expected stores is kept: it may be the
 *   only copy left, and the 3-2-1 check must see it first;
 * - everything else is deleted.
 */
export function decideRetention(
  candidates: RetentionCandidate[],
  asOf: Date,
  policy: RetentionPolicy,
  expectedStores: { local: boolean; remote: boolean },
): RetentionDecision[] {
  const taken = candidates.filter((c) => c.trusted && c.kind !== 'pre-upgrade' && c.createdAt <= asOf);
  const newest = new Set(
    [...taken]
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
      .slice(0, policy.keepNewest)
      .map((c) => c.id),
  );
  return candidates.map((candidate) => {
    const keep = (reason: RetentionReason, keepUntil?: string): RetentionDecision => ({
      id: candidate.id,
      action: 'keep',
      reason,
      keepUntil,
    });
    if (candidate.kind === 'pre-upgrade') return keep('labeled');
    if (candidate.createdAt > asOf) return keep('not-yet-taken');
    if (newest.has(candidate.id)) return keep('newest');
    const open = windows(candidate, policy).filter(([, until]) => until >= asOf);
    const longest = open.at(-1);
    if (longest) return keep(longest[0], longest[1].toISOString());
    const soleCopy =
      (expectedStores.local && !candidate.copies.local) ||
      (expectedStores.remote && !candidate.copies.remote);
    if (soleCopy) return keep('sole-copy');
    return { id: candidate.id, action: 'delete', reason: 'expired' };
  });
}
