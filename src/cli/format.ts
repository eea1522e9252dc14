import type { BackupProgress } from '../client/index.js';

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
