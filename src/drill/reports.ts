import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatStamp } from '../core/naming.js';
import { DRILL_REPORT_PREFIX, REPORTS_FOLDER, type DrillReport } from '../core/outcome.js';

// Drill reports on disk: BACKUP_DIR/reports/drill-<YYYYMMDD-HHMMSS>-<run>.json, read by drills list
// and health.

/**
 * A drill run's tag in the names of its scratch database and its report: the first 8 hex digits of
 * the SHA-256 of its workflow id. Two drills started in the same second get apart; a retry of one
 * gets the same.
 */
export function drillRunTag(workflowId: string): string {
  return createHash('sha256').update(workflowId).digest('hex').slice(0, 8);
}

/**
 * Writes the report whole or not at all (a reader never sees half of one); 0600 in a 0700 folder.
 * Named by its start and its run: two drills started in the same second keep a report each, and a
 * retried write replaces its own.
 */
export async function writeDrillReport(
  backupDir: string,
  timeZone: string,
  report: DrillReport,
): Promise<string> {
  const folder = join(backupDir, REPORTS_FOLDER);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const stamp = formatStamp(new Date(report.startedAt), timeZone);
  const path = join(folder, `${DRILL_REPORT_PREFIX}${stamp}-${drillRunTag(report.workflowId)}.json`);
  await writeFile(`${path}.partial`, `${JSON.stringify(report, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.partial`, path);
  return path;
}

/** Every readable report, newest first; a file that is not one is skipped. */
export async function readDrillReports(backupDir: string): Promise<{ path: string; report: DrillReport }[]> {
  const folder = join(backupDir, REPORTS_FOLDER);
  const names = await readdir(folder).catch(() => []);
  const reports = await Promise.all(
    names
      .filter((name) => name.startsWith(DRILL_REPORT_PREFIX) && name.endsWith('.json'))
      .map(async (name) => {
        const path = join(folder, name);
        const report = await readFile(path, 'utf8')
          .then((text) => JSON.parse(text) as DrillReport)
          .catch(() => undefined);
        return report?.startedAt ? [{ path, report }] : [];
      }),
  );
  return reports.flat().sort((a, b) => b.report.startedAt.localeCompare(a.report.startedAt));
}
