import { existsSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, type BackupResult } from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import {
  SCHEDULE_KINDS,
  applySchedules,
  listSchedules,
  pauseSchedules,
  scheduleId,
  triggerSchedules,
} from '../../src/schedules/index.js';
import { backupctl } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { testConfig, testEnv, uniqueName } from '../helpers/services.js';
import { firstActionOf, withWorker } from '../helpers/temporal.js';

describe('schedules on the real Temporal server', () => {
  let client: Client;
  const created: string[] = [];

  /** A config for a database of its own, so that schedule ids never collide between tests or runs. */
  function scheduleConfig(overrides: Record<string, string> = {}): Config {
    const database = uniqueName('sched');
    created.push(...SCHEDULE_KINDS.map((kind) => scheduleId(kind, database)));
    return testConfig({ DB_NAME: database, TEMPORAL_TASK_QUEUE: uniqueName('sched'), ...overrides });
  }

  beforeAll(async () => {
    client = await connectClient(testConfig({ DB_NAME: 'unused' }).temporal);
  });

  afterEach(async () => {
    const ids = created.splice(0);
    await Promise.all(
      ids.map((id) =>
        client.schedule
          .getHandle(id)
          .delete()
          .catch(() => undefined),
      ),
    );
  });

  afterAll(() => client.connection.close());

  it('creates the four schedules once, then leaves them untouched', async () => {
    const config = scheduleConfig({
      SCHEDULE_TIMEZONE: 'Europe/Berlin',
      SCHEDULE_CATCHUP_WINDOW_MINUTES: '90',
    });
    const db = config.database.name;
    expect((await applySchedules(client, config)).map((r) => [r.id, r.outcome])).toEqual([
      [`backup-${db}`, 'created'],
      [`retention-${db}`, 'created'],
      [`drill-${db}`, 'created'],
      [`reread-${db}`, 'created'],
    ]);
    const before = await client.schedule.getHandle(`backup-${db}`).describe();

    expect((await applySchedules(client, config)).map((r) => r.outcome)).toEqual(Array(4).fill('unchanged'));

    const backup = await client.schedule.getHandle(`backup-${db}`).describe();
    expect(backup.info.lastUpdatedAt).toEqual(before.info.lastUpdatedAt);
    expect(backup.raw.conflictToken).toEqual(before.raw.conflictToken);
    expect(backup.spec.timezone).toBe('Europe/Berlin');
    expect(backup.spec.calendars).toHaveLength(1);
    expect(backup.spec.calendars![0]).toMatchObject({
      minute: [{ start: 0, end: 0 }],
      hour: [{ start: 2, end: 2 }],
      comment: '0 2 * * *',
    });
    expect(backup.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 90 * 60_000 });
    expect(backup.action).toMatchObject({
      workflowType: 'backupWorkflow',
      taskQueue: config.temporal.taskQueue,
      workflowId: `scheduled-backup-${db}`,
      args: [{}],
    });
    expect(backup.memo).toEqual({ managedBy: 'durable-backup', database: db });
    expect(backup.state.paused).toBe(false);

    const retention = await client.schedule.getHandle(`retention-${db}`).describe();
    expect(retention.action).toMatchObject({
      workflowType: 'retentionWorkflow',
      taskQueue: config.temporal.taskQueue,
    });
    expect(retention.spec.calendars![0]).toMatchObject({
      hour: [{ start: 3, end: 3 }],
      dayOfWeek: [{ start: 'SUNDAY', end: 'SUNDAY' }],
      comment: '0 3 * * 0',
    });

    // The drill after the nightly backup, the re-read once a month.
    const drill = await client.schedule.getHandle(`drill-${db}`).describe();
    expect(drill.action).toMatchObject({
      workflowType: 'drillWorkflow',
      workflowId: `scheduled-drill-${db}`,
    });
    expect(drill.spec.calendars![0]).toMatchObject({ hour: [{ start: 4, end: 4 }], comment: '0 4 * * *' });
    const reread = await client.schedule.getHandle(`reread-${db}`).describe();
    expect(reread.action).toMatchObject({ workflowType: 'rereadWorkflow' });
    expect(reread.spec.calendars![0]).toMatchObject({
      hour: [{ start: 5, end: 5 }],
      dayOfMonth: [{ start: 1, end: 1 }],
      comment: '0 5 1 * *',
    });
  });

  it('updates a schedule whose cron changed, and only that one', async () => {
    const config = scheduleConfig();
    await applySchedules(client, config);
    const changed = testConfig({ ...envOf(config), BACKUP_SCHEDULE: '30 1 * * *' });

    const results = await applySchedules(client, changed);

    expect(results.map((r) => [r.outcome, r.changes])).toEqual([
      ['updated', ['cron']],
      ['unchanged', []],
      ['unchanged', []],
      ['unchanged', []],
    ]);
    const backup = await client.schedule.getHandle(scheduleId('backup', config.database.name)).describe();
    expect(backup.spec.calendars![0]).toMatchObject({
      minute: [{ start: 30, end: 30 }],
      hour: [{ start: 1, end: 1 }],
      comment: '30 1 * * *',
    });
  });

  it('spreads backups by BACKUP_SCHEDULE_JITTER_MINUTES: on the backup schedule only, updated when it changes', async () => {
    const config = scheduleConfig({ BACKUP_SCHEDULE_JITTER_MINUTES: '7' });
    const db = config.database.name;
    await applySchedules(client, config);
    const backup = await client.schedule.getHandle(`backup-${db}`).describe();
    expect(backup.spec.jitter).toBe(7 * 60_000);
    expect((await client.schedule.getHandle(`drill-${db}`).describe()).spec.jitter ?? 0).toBe(0);
    const list = await backupctl(['schedules', 'list'], {
      ...envOf(config),
      BACKUP_SCHEDULE_JITTER_MINUTES: '7',
    });
    expect(list.stdout).toMatch(
      new RegExp(`^backup-${db}\\s+active\\s+0 2 \\* \\* \\*\\s+UTC\\s+7 min\\s`, 'm'),
    );
    expect(list.stdout).toMatch(new RegExp(`^drill-${db}\\s+active\\s+0 4 \\* \\* \\*\\s+UTC\\s+-\\s`, 'm'));

    const none = { ...config, schedules: { ...config.schedules, backupJitterMinutes: 0 } };
    const updated = await applySchedules(client, none);
    expect(updated.map((r) => [r.kind, r.outcome, r.changes])).toEqual([
      ['backup', 'updated', ['jitter']],
      ['retention', 'unchanged', []],
      ['drill', 'unchanged', []],
      ['reread', 'unchanged', []],
    ]);
  });

  it("keeps an operator's pause through apply, with or without changes", async () => {
    const config = scheduleConfig();
    await applySchedules(client, config);
    await pauseSchedules(client, config, 'backup', 'disk swap tonight');
    const handle = client.schedule.getHandle(scheduleId('backup', config.database.name));

    expect((await applySchedules(client, config)).map((r) => r.outcome)).toEqual(Array(4).fill('unchanged'));
    const changed = testConfig({ ...envOf(config), BACKUP_SCHEDULE: '15 4 * * *' });
    expect((await applySchedules(client, changed)).map((r) => r.outcome)).toEqual([
      'updated',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);

    const backup = await handle.describe();
    expect(backup.state).toMatchObject({ paused: true, note: 'disk swap tonight' });
    expect(backup.spec.calendars![0]!.comment).toBe('15 4 * * *');
  });

  it('lists next runs at the cron time of the configured zone', async () => {
    const config = scheduleConfig({ SCHEDULE_TIMEZONE: 'Europe/Berlin' });
    await applySchedules(client, config);

    const [backup, retention] = await listSchedules(client, config);

    expect(backup).toMatchObject({
      state: 'active',
      cron: '0 2 * * *',
      timeZone: 'Europe/Berlin',
      running: 0,
    });
    expect(backup!.nextRuns.length).toBeGreaterThanOrEqual(3);
    for (const run of backup!.nextRuns) {
      expect(run.getTime()).toBeGreaterThan(Date.now());
      // 02:00 in Berlin is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
      expect([0, 1]).toContain(run.getUTCHours());
      expect(run.getUTCMinutes()).toBe(0);
    }
    expect(retention!.nextRuns.every((run) => run.getUTCDay() === 0)).toBe(true); // 03:00 Sunday in Berlin
  });

  it('reports a schedule that was never applied as missing, and refuses to act on it', async () => {
    const config = scheduleConfig();
    expect((await listSchedules(client, config)).map((s) => s.state)).toEqual(Array(4).fill('missing'));
    await expect(triggerSchedules(client, config, 'backup')).rejects.toMatchObject({
      kind: 'Configuration',
      message: `schedule backup-${config.database.name} does not exist; run backupctl schedules apply`,
    });
  });

  it('runs a real backup when the backup schedule is triggered', async () => {
    const config = scheduleConfig({ BACKUP_DIR: tempDir('backups'), S3_PREFIX: `${uniqueName('sched')}/` });
    await seedDatabase(config.database.name, 100);
    try {
      await applySchedules(client, config);
      const result = await withWorker(config, async () => {
        const [id] = await triggerSchedules(client, config, 'backup');
        const workflowId = await firstActionOf(client, id!);
        expect(workflowId).toMatch(new RegExp(`^scheduled-backup-${config.database.name}-`));
        return (await client.workflow.getHandle(workflowId).result()) as BackupResult;
      });
      expect(result.key).toMatch(new RegExp(`^${config.database.name}-backup-`));
      expect(existsSync(result.localPath)).toBe(true);
    } finally {
      await dropDatabase(config.database.name);
    }
  });

  it('applies and lists through the CLI', async () => {
    const config = scheduleConfig();
    const env = envOf(config);

    const apply = await backupctl(['schedules', 'apply', '--json'], env);
    expect(apply.exitCode, apply.stderr).toBe(0);
    expect(JSON.parse(apply.stdout).map((r: { outcome: string }) => r.outcome)).toEqual(
      Array(4).fill('created'),
    );

    const list = await backupctl(['schedules', 'list'], env);
    expect(list.exitCode, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+STATE\s+CRON\s+TIMEZONE\s+JITTER\s+NEXT RUNS/);
    expect(list.stdout).toContain(`backup-${config.database.name}`);
    expect(list.stdout).toMatch(/active\s+0 2 \* \* \*\s+UTC\s+-\s+\d{4}-\d\d-\d\d 02:00 GMT/);

    const unknownKind = await backupctl(['schedules', 'trigger', 'nightly'], env);
    expect(unknownKind.exitCode).toBe(3);
  });
});

/** The variables a config was made from, for a second config or the CLI. */
function envOf(config: Config): Record<string, string> {
  return testEnv({ DB_NAME: config.database.name, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue });
}
