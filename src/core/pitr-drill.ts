import type { PitrDrillFacts } from './outcome.js';

// The PITR drill's pure core (docs/pitr.md#the-pitr-drill): the moment it recovers to, and the RPO.

/** Five minutes ago by default: the WAL of that moment has been archived (archive_timeout 60 s). */
export const PITR_DRILL_LAG_SECONDS = 300;

export function pitrDrillTarget(now: string, lagSeconds = PITR_DRILL_LAG_SECONDS): string {
  return new Date(Date.parse(now) - lagSeconds * 1000).toISOString();
}

/**
 * The achieved RPO: the target moment less the newest heartbeat the recovered server holds (the
 * worker writes one a minute, so the newest commit recovered is at most a minute older than it).
 * Unknown without a heartbeat, and then not within target.
 */
export function pitrDrillFacts(facts: {
  target: string;
  newestBeat?: string;
  baseBackup?: string;
  rpoTargetSeconds: number;
}): PitrDrillFacts {
  const rpoMs =
    facts.newestBeat === undefined
      ? undefined
      : Math.max(0, Date.parse(facts.target) - Date.parse(facts.newestBeat));
  const rpoTargetMs = facts.rpoTargetSeconds * 1000;
  return {
    target: facts.target,
    ...(facts.baseBackup ? { baseBackup: facts.baseBackup } : {}),
    ...(facts.newestBeat ? { newestBeat: facts.newestBeat } : {}),
    ...(rpoMs === undefined ? {} : { rpoMs }),
    rpoTargetMs,
    withinRpo: rpoMs !== undefined && rpoMs <= rpoTargetMs,
  };
}
