import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigs } from '../../src/config/index.js';
import type { DrillReport } from '../../src/core/outcome.js';
import { writeDrillReport } from '../../src/drill/reports.js';
import { backupctl } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

// Several databases in one config file: one worker backs up all of them, each with its own
// directory, prefix and schedules, and every per-database command says which one it is for.

describe('several databases from one config file', () => {
  const [first, second] = [uniqueName('multi_a'), uniqueName('multi_b')];
  const env = testEnv({ TEMPORAL_TASK_QUEUE: uniqueName('multi') });
  const configFile = join(tempDir('config'), 'backup.yaml');
  const dirs = { [first]: tempDir('backups-a'), [second]: tempDir('backups-b') };

  beforeAll(async () => {
    await Promise.all([seedDatabase(first, 20), seedDatabase(second, 30)]);
    const prefix = uniqueName('multi');
    writeFileSync(
      configFile,
      [
        'defaults:',
        `  S3_PREFIX: ${prefix}/`,
        'databases:',
        `  ${first}:`,
        `    BACKUP_DIR: ${dirs[first]}`,
        `  ${second}:`,
        `    BACKUP_DIR: ${dirs[second]}`,
        `    BACKUP_SCHEDULE: "30 1 * * *"`,
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await backupctl(['--config', configFile, 'schedules', 'delete'], env);
    await Promise.all([dropDatabase(first), dropDatabase(second)]);
  });

  it('backs up each database with one worker, into its own place', async () => {
    const configs = loadConfigs({ env, configFile });
    await withWorker(configs, async () => {
      for (const database of [first, second]) {
        const run = await backupctl(
          ['--config', configFile, '--database', database, 'backup', '--wait', '--json'],
          env,
        );
        expect(run.exitCode, run.stderr).toBe(0);
        const result = JSON.parse(run.stdout) as { key: string; localPath: string; database: string };
        expect(result.database).toBe(database);
        expect(result.key.startsWith(`${database}-backup-`)).toBe(true);
        expect(result.localPath.startsWith(dirs[database]!)).toBe(true);
        expect(existsSync(result.localPath)).toBe(true);
      }
      // A client that names a database this worker does not have (its own DB_NAME, no --config):
      // the worker refuses it before any step runs.
      const stranger = await backupctl(['backup', '--wait'], { ...env, DB_NAME: 'not_served_here' });
      expect(stranger.exitCode).toBe(3);
      expect(stranger.stderr).toContain(
        `this worker does not back up database not_served_here; it has ${first}, ${second}`,
      );
    });
  });

  it('lists the backups of every database in one call, the database first', async () => {
    const run = await backupctl(['--config', configFile, 'list'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const rows = run.stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'));
    expect(rows.map(([database, key]) => [database, key!.startsWith(`${database}-backup-`)])).toEqual([
      [first, true],
      [second, true],
    ]);
    expect(rows.every((row) => row.length === 5 && row[4] === 'local+remote')).toBe(true);
    const json = await backupctl(['--config', configFile, 'list', '--json'], env);
    const entries = JSON.parse(json.stdout) as { manifest: { database: string } }[];
    expect(entries.map((e) => e.manifest.database)).toEqual([first, second]);
  });

  it('lists the drill reports of every database in one call, and only theirs', async () => {
    const report = (database: string, startedAt: string, ok: boolean): DrillReport => ({
      database,
      workflowId: `drill-${database}-${startedAt}`,
      startedAt,
      finishedAt: startedAt,
      ok,
      scratchDatabase: `${database}_drill`,
      phases: [],
      rtoMs: 1_000,
      rtoTargetMs: 1_800_000,
      withinTarget: true,
      scratchDropped: true,
    });
    await writeDrillReport(dirs[first]!, 'UTC', report(first, '2026-12-01T04:00:00.000Z', true));
    await writeDrillReport(dirs[second]!, 'UTC', report(second, '2026-12-02T04:00:00.000Z', false));
    // Another database's report in the same folder is not one of this file's.
    await writeDrillReport(dirs[second]!, 'UTC', report('elsewhere', '2026-12-03T04:00:00.000Z', true));

    const run = await backupctl(['--config', configFile, 'drills', 'list'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^DATABASE\s+STARTED\s+OK\s+RTO \/ TARGET/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [second, '2026-12-02T04:00:00.000Z', 'FAILED'],
      [first, '2026-12-01T04:00:00.000Z', 'ok'],
    ]);
  });

  it('writes the gauges of every database into one textfile', async () => {
    const textfile = join(tempDir('textfile'), 'backup.prom');
    const run = await backupctl(['--config', configFile, 'metrics', '--textfile', textfile], env);
    expect(run).toMatchObject({ exitCode: 0, stderr: '' });
    const text = readFileSync(textfile, 'utf8');
    for (const database of [first, second]) {
      expect(text).toContain(`postgres_backup_count{database="${database}"} 1\n`);
      expect(text).toContain(`postgres_backup_copies{database="${database}",location="remote"} 1\n`);
      expect(text).toMatch(
        new RegExp(`postgres_backup_last_success_timestamp\\{database="${database}"\\} [1-9]`),
      );
    }
  });

  it('gives the drill reports of every database as JSON too', async () => {
    const run = await backupctl(['--config', configFile, 'drills', 'list', '--json'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const reports = JSON.parse(run.stdout) as DrillReport[];
    expect(reports.map((r) => [r.database, r.ok])).toEqual([
      [second, false],
      [first, true],
    ]);
  });

  it('asks which database when a command is for one', async () => {
    const run = await backupctl(['--config', configFile, 'backup'], env);
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain(`--database: the config file lists ${first}, ${second}; name one`);
    const unknown = await backupctl(['--config', configFile, '--database', 'nope', 'backup'], env);
    expect(unknown.exitCode).toBe(3);
    // Refused by the client, from the same file the worker reads: no workflow was started.
    expect(unknown.stdout + unknown.stderr).not.toContain('started');
    expect(unknown.stderr).toContain(`--database: no database "nope"; known: ${first}, ${second}`);
  });

  it('applies one schedule set per database, with ids that name it', async () => {
    const run = await backupctl(['--config', configFile, 'schedules', 'apply', '--json'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    const applied = JSON.parse(run.stdout) as { id: string; outcome: string }[];
    expect(applied.map((a) => a.id).sort()).toEqual(
      ['backup', 'retention', 'drill', 'reread']
        .flatMap((kind) => [`${kind}-${first}`, `${kind}-${second}`])
        .sort(),
    );
    const listed = await backupctl(['--config', configFile, 'schedules', 'list', '--json'], env);
    const byId = Object.fromEntries(
      (JSON.parse(listed.stdout) as { id: string; cron: string }[]).map((s) => [s.id, s.cron]),
    );
    expect(byId[`backup-${first}`]).toBe('0 2 * * *');
    expect(byId[`backup-${second}`]).toBe('30 1 * * *');
  });
});
