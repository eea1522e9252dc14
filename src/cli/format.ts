import type { BackupProgress, RetentionResult } from '../client/index.js';
import type { PlannedBackup } from '../retention/sweep.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** One line per finished step, then the step now running. */
export function formatProgress(progress: BackupProgress): string[] {
  const lines = progress.completed.map(
    (c) =>
      `  done ${c.step.padEnd(8)} ${c.durationMs === undefined ? '' : `${(c.durationMs / 1000).toFixed(1)} s  `}${c.detail}`,
  );
  if (!['done', 'failed'].includes(progress.step)) lines.push(`  ...  ${progress.step}`);
  return lines;
}

/** One line per backup: what happens to it, why, and until when it is kept. */
export function formatPlan(plan: PlannedBackup[], asOf: Date): string {
  const deletions = plan.filter((p) => p.action === 'delete').length;
  const lines = [...plan]
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .map((p) =>
      [
        p.action.padEnd(6),
        p.reason.padEnd(14),
        p.kind.padEnd(11),
        p.keepUntil ? `until ${p.keepUntil.slice(0, 10)}` : ''.padEnd(16),
        p.dataKey,
      ].join(' '),
    );
  return [`as of ${asOf.toISOString()}: ${plan.length} backups, ${deletions} to delete`, ...lines].join('\n');
}

export function formatCleanup(result: RetentionResult): string {
  const { abortedUploads, orphanData, danglingManifests } = result.cleanup;
  return [
    `deleted ${result.deleted.length} backups`,
    `cleaned up ${abortedUploads.length} unfinished uploads, ${orphanData.length} files without a manifest, ${danglingManifests.length} manifests without data`,
  ].join('\n');
}
