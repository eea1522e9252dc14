import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startPitrBackup,
  startRetention,
  waitForPitrBackup,
  waitForRetention,
  type PitrBackupResult,
} from '../../src/client/index.js';
import { BackupError } from '../../src/core/errors.js';
import { expireArgs, fullRetentionDays } from '../../src/core/pitr-backup.js';
import { startHeartbeat, writeHeartbeat } from '../../src/pitr/heartbeat.js';
import { setUpPitr } from '../../src/pitr/setup.js';
import { checkHealth } from '../../src/health/index.js';
import { writeMetricsTextfile } from '../../src/metrics/textfile.js';
import { applySchedules, listSchedules, scheduleId, SCHEDULE_KINDS } from '../../src/schedules/index.js';
import { backupctl } from '../helpers/cli.js';
import { decodedPayloads } from '../helpers/histories.js';
import { parentOf, processesMatching } from '../helpers/processes.js';
import { tempDir } from '../helpers/files.js';
import { startPitrCluster, type PitrCluster } from '../helpers/pitr-cluster.js';
import { freePort } from '../helpers/ports.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Issue #21, physical backups as workflows: a full then a differential backup of a private cluster
// that archives through pgBackRest into a repository on a path, with the cipher on.

const CIPHER_PASS = 'pitr-backup-cipher-passphrase-0b7d2e94';

let cluster: PitrCluster;
let tw: TestWorker;

beforeAll(async () => {
  cluster = await startPitrCluster({ stanza: uniqueName('pitrb') });
  const cipherFile = join(tempDir('pitr-secret'), 'cipher');
  writeFileSync(cipherFile, `${CIPHER_PASS}\n`);
  chmodSync(cipherFile, 0o600);
  tw = await startTestWorker('pitrb', {
    ...cluster.env,
    PITR_REPO_PATH: join(cluster.dir, 'repo'),
    PITR_CIPHER_PASS_FILE: cipherFile,
  });
  const setup = await setUpPitr(tw.config, () => undefined);
  expect(setup.checked).toBe(true);
}, 120_000);

afterAll(async () => {
  await tw?.stop();
  await cluster?.remove();
});

/** `pgbackrest info --output=json` as the cluster's user. */
async function pgbackrestInfo(): Promise<string> {
  const configFile = `${cluster.configDir}/${cluster.stanza}.conf`;
  const { stdout } = await execa(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      'pgbackrest',
      `--config=${configFile}`,
      `--stanza=${cluster.stanza}`,
      'info',
      '--output=json',
    ],
    { cwd: '/' },
  );
  return stdout;
}

async function backupOf(type: 'full' | 'diff'): Promise<{ result: PitrBackupResult; history: string }> {
  const handle = await startPitrBackup(tw.client, {
    database: tw.config.database.name,
    stanza: cluster.stanza,
    type,
    taskQueue: tw.config.temporal.taskQueue,
  });
  const result = await waitForPitrBackup(handle);
  return { result, history: JSON.stringify((await handle.fetchHistory()).events) };
}

describe('physical backups as workflows', () => {
  it('a full then a differential backup: the history shows the pgBackRest step and its result, and no secret', async () => {
    await cluster.psql('CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 50000) g');
    const full = await backupOf('full');
    const b = full.result.backup;
    expect(full.result.stanza).toBe(cluster.stanza);
    expect(b.type).toBe('full');
    expect(b.label).toMatch(/^\d{8}-\d{6}F$/);
    expect(b.databaseBytes).toBeGreaterThan(1_000_000);
    expect(b.repoBytes).toBeGreaterThan(0);
    expect(Date.parse(b.stoppedAt)).toBeGreaterThanOrEqual(Date.parse(b.startedAt));
    expect(b.walStart).toMatch(/^[0-9A-F]{24}$/);
    expect(b.walStop >= b.walStart).toBe(true);
    expect(full.history).toContain('pgbackrestBackup');
    // The step's summary names the command, as the UI shows it.
    expect(decodedPayloads(full.history).join('\n')).toContain('pgbackrest backup --type=full');

    await cluster.psql('INSERT INTO orders SELECT g FROM generate_series(50001, 60000) g');
    const diff = await backupOf('diff');
    expect(diff.result.backup.type).toBe('diff');
    expect(diff.result.backup.prior).toBe(b.label);
    expect(diff.result.backup.label.startsWith(`${b.label}_`)).toBe(true);
    expect(diff.result.backup.deltaBytes).toBeLessThan(diff.result.backup.databaseBytes);

    for (const history of [full.history, diff.history]) {
      expect(history).not.toContain(CIPHER_PASS);
      expect(decodedPayloads(history).join('\n')).not.toContain(CIPHER_PASS);
    }

    // The retention sweep expires with its window: no logical backup kept, so the daily window;
    // both backups are younger than it, and the WAL from the full backup on stays.
    const sweep = await waitForRetention(
      await startRetention(tw.client, {
        database: tw.config.database.name,
        taskQueue: tw.config.temporal.taskQueue,
      }),
    );
    expect(sweep.physical).toEqual({
      retentionFullDays: tw.config.retention.dailyDays,
      expired: [],
      kept: [b.label, diff.result.backup.label],
    });
    const archive = JSON.parse(await pgbackrestInfo()) as { archive: { min: string }[] }[];
    expect(archive[0]!.archive[0]!.min <= b.walStart).toBe(true);
  }, 240_000);

  it('a second backup of the stanza while one runs is refused (AlreadyRunning, exit 4)', async () => {
    const options = {
      database: tw.config.database.name,
      stanza: cluster.stanza,
      type: 'full' as const,
      taskQueue: tw.config.temporal.taskQueue,
    };
    const first = await startPitrBackup(tw.client, options);
    const refused = await startPitrBackup(tw.client, options).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as BackupError).kind).toBe('AlreadyRunning');
    expect((refused as BackupError).message).toMatch(/a physical backup of it is running/);
    await waitForPitrBackup(first);
  }, 180_000);

  it('schedules: with PITR on, apply adds a weekly full and a daily differential backup, and list shows them', async () => {
    // A database name of its own: schedule ids are per database.
    const config = { ...tw.config, database: { ...tw.config.database, name: uniqueName('pitrsched') } };
    const db = config.database.name;
    try {
      const applied = await applySchedules(tw.client, config);
      expect(applied.map((r) => [r.id, r.outcome])).toContainEqual([`pitr-full-${db}`, 'created']);
      expect(applied.map((r) => [r.id, r.outcome])).toContainEqual([`pitr-diff-${db}`, 'created']);
      const listed = await listSchedules(tw.client, config);
      const full = listed.find((s) => s.kind === 'pitr-full')!;
      const diff = listed.find((s) => s.kind === 'pitr-diff')!;
      expect([full.state, full.cron]).toEqual(['active', '0 1 * * 0']);
      expect([diff.state, diff.cron]).toEqual(['active', '0 1 * * 1-6']);
      const action = (await tw.client.schedule.getHandle(`pitr-diff-${db}`).describe()).action;
      expect(action.workflowType).toBe('pitrBackupWorkflow');
      expect(action.args).toEqual([{ database: db, type: 'diff' }]);
      // Unchanged on a second apply.
      expect((await applySchedules(tw.client, config)).every((r) => r.outcome === 'unchanged')).toBe(true);
      // Without PITR, neither is asked for.
      expect(
        (await listSchedules(tw.client, { ...config, pitr: undefined })).map((s) => s.kind),
      ).not.toContain('pitr-full');
    } finally {
      for (const kind of SCHEDULE_KINDS)
        await tw.client.schedule
          .getHandle(scheduleId(kind, db))
          .delete()
          .catch(() => undefined);
    }
  });
});

describe('expiry with the window', () => {
  /** `pgbackrest expire` run five days ahead (faketime): every backup is then five days old. */
  async function expireFiveDaysAhead(days: number): Promise<string[]> {
    const configFile = `${cluster.configDir}/${cluster.stanza}.conf`;
    await execa(
      'runuser',
      [
        '-u',
        'postgres',
        '--',
        'faketime',
        '+5 days',
        'pgbackrest',
        `--config=${configFile}`,
        `--stanza=${cluster.stanza}`,
        'expire',
        ...expireArgs(days),
      ],
      { cwd: '/' },
    );
    const info = JSON.parse(await pgbackrestInfo()) as {
      backup: { label: string }[];
      archive: { min: string }[];
    }[];
    return info[0]!.backup.map((b) => b.label);
  }

  it('keeps the full backup before the oldest kept logical backup, and the WAL from it; expires the older ones', async () => {
    const newest = (await backupOf('full')).result.backup;
    const before = JSON.parse(await pgbackrestInfo()) as {
      backup: { label: string; archive: { start: string } }[];
    }[];
    const labels = before[0]!.backup.map((b) => b.label);
    expect(labels.length).toBeGreaterThanOrEqual(3);
    const fakeNow = new Date(Date.now() + 5 * 86_400_000);

    // A logical backup kept from a moment after all the physical ones (an hour from now): the window
    // reaches back before them all, and nothing is expired.
    const keptSoon = [{ createdAt: new Date(Date.now() + 3_600_000).toISOString() }];
    expect(fullRetentionDays(keptSoon, fakeNow, 7)).toBe(6);
    expect(await expireFiveDaysAhead(fullRetentionDays(keptSoon, fakeNow, 7))).toEqual(labels);

    // The oldest kept logical backup is from three days from now: the newest full backup before it
    // (the one just taken) is kept with its WAL, the older backups are expired.
    const keptLater = [{ createdAt: new Date(Date.now() + 3 * 86_400_000).toISOString() }];
    expect(fullRetentionDays(keptLater, fakeNow, 7)).toBe(3);
    expect(await expireFiveDaysAhead(3)).toEqual([newest.label]);
    const after = JSON.parse(await pgbackrestInfo()) as { archive: { min: string }[] }[];
    expect(after[0]!.archive[0]!.min <= newest.walStart).toBe(true);
    // The WAL the expired backups needed is gone.
    expect(after[0]!.archive[0]!.min > before[0]!.backup[0]!.archive.start).toBe(true);
  }, 120_000);
});

describe('backupctl pitr backup and schedules list', () => {
  it('pitr backup --wait --json: the result, and no secret in an argument list, an environment or the output', async () => {
    // Every pgbackrest process run by this test's worker, as it ran.
    const seen = new Map<number, { cmdline: string; environ: string }>();
    const ours = (pid: number) => {
      for (let p: number | undefined = pid, hops = 0; p && hops < 10; p = parentOf(p), hops += 1)
        if (p === process.pid) return true;
      return false;
    };
    const timer = setInterval(() => {
      for (const p of processesMatching('pgbackrest')) if (ours(p.pid)) seen.set(p.pid, p);
    }, 10);
    const run = await backupctl(['pitr', 'backup', '--type', 'incr', '--wait', '--json'], tw.env).finally(
      () => clearInterval(timer),
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as PitrBackupResult & { workflowId: string };
    expect(result.workflowId).toBe(`pitr-backup-${cluster.stanza}`);
    expect(result.backup.type).toBe('incr');
    expect(result.backup.label).toMatch(/I$/);
    expect([...seen.values()].map((p) => p.cmdline).join('\n')).toMatch(/ backup --type=incr/);
    for (const p of seen.values()) {
      expect(p.cmdline).not.toContain(CIPHER_PASS);
      expect(p.environ).not.toContain(CIPHER_PASS);
    }
    expect(run.stdout + run.stderr).not.toContain(CIPHER_PASS);
  }, 120_000);

  it('schedules apply then list show pitr-full and pitr-diff', async () => {
    const env = { ...tw.env, DB_NAME: uniqueName('pitrcli') };
    try {
      const applied = await backupctl(['schedules', 'apply'], env);
      expect(applied.exitCode, applied.stderr).toBe(0);
      expect(applied.stdout).toContain(`created pitr-full-${env.DB_NAME}`);
      const listed = await backupctl(['schedules', 'list'], env);
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(new RegExp(`pitr-full-${env.DB_NAME} +active +0 1 \\* \\* 0 `));
      expect(listed.stdout).toMatch(new RegExp(`pitr-diff-${env.DB_NAME} +active +0 1 \\* \\* 1-6 `));
    } finally {
      await backupctl(['schedules', 'delete'], env);
    }
  }, 60_000);
});

describe('the heartbeat (PITR=pgbackrest)', () => {
  it('the worker writes durable_backup.heartbeat at start, creating it; a write moves the beat on', async () => {
    const read = () => cluster.psql('SELECT id, beat FROM durable_backup.heartbeat').catch(() => '');
    const deadline = Date.now() + 20_000;
    while ((await read()) === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const [id, first] = (await read()).split('|');
    expect(id).toBe('1');
    expect(Date.now() - Date.parse(first!)).toBeLessThan(5 * 60_000);
    const next = await writeHeartbeat(tw.config.database);
    expect(next.getTime()).toBeGreaterThan(Date.parse(first!));
    expect(await cluster.psql('SELECT count(*) FROM durable_backup.heartbeat')).toBe('1');
  });

  it('a database it cannot reach: one warning, not thrown', async () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const log = { warn: (m: string) => warnings.push(m), info: (m: string) => infos.push(m) };
    const away = { ...tw.config.database, port: await freePort() };
    const writer = startHeartbeat(away, log, 100);
    await new Promise((r) => setTimeout(r, 1_000));
    writer.stop();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^heartbeat: cannot write durable_backup\.heartbeat in postgres: /);
    expect(infos).toEqual([]);
  });
});

describe('monitoring', () => {
  it('the metrics and health see the WAL archive and the newest physical backup', async () => {
    // The backups above archived segments; one more switch makes the newest a moment old.
    await cluster.psql('SELECT pg_switch_wal()');
    const path = join(tempDir('pitr-metrics'), 'backup.prom');
    await writeMetricsTextfile(path, [tw.config]);
    const text = readFileSync(path, 'utf8');
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{database="postgres"}`));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    };
    const age = value('postgres_backup_wal_archive_age_seconds');
    expect(age, text).toBeDefined();
    expect(age!).toBeLessThan(120);
    expect(value('postgres_backup_wal_archive_failures')).toBe(0);
    expect(value('postgres_backup_wal_archive_max_age_seconds')).toBe(300);
    const info = JSON.parse(await pgbackrestInfo()) as { backup: { timestamp: { stop: number } }[] }[];
    expect(value('postgres_backup_physical_last_success_timestamp')).toBe(
      info[0]!.backup.at(-1)!.timestamp.stop,
    );
    expect(value('postgres_backup_physical_size_bytes')!).toBeGreaterThan(0);

    const [health] = await checkHealth([tw.config], { scheduleFacts: () => Promise.resolve([]) });
    const checks = Object.fromEntries(health!.checks.map((c) => [c.check, c]));
    expect(checks['wal-archive']?.ok, checks['wal-archive']?.detail).toBe(true);
    expect(checks['wal-archive']?.detail).toMatch(
      /^newest WAL segment archived \d+ s ago \([0-9A-F]{24}\) \(limit 300 s\)$/,
    );
    expect(checks['physical-backup']?.ok, checks['physical-backup']?.detail).toBe(true);
  });
});
