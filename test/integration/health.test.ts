import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  startBackup,
  startRetention,
  waitForBackup,
  waitForRetention,
  type BackupResult,
} from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import { parseManifest } from '../../src/core/manifest.js';
import type { DrillReport } from '../../src/core/outcome.js';
import {
  applySchedules,
  deleteSchedules,
  pauseSchedules,
  triggerSchedules,
  unpauseSchedules,
} from '../../src/schedules/index.js';
import { openStores, storeList, type Stores } from '../../src/storage/index.js';
import type { LocalStore } from '../../src/storage/types.js';
import { backupctl } from '../helpers/cli.js';
import { putSignedManifest } from '../helpers/backups.js';
import { sha256File, tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { download, s3StoreOf } from '../helpers/s3.js';
import { testConfig, testEnv, uniqueName } from '../helpers/services.js';
import { firstActionOf, withWorker } from '../helpers/temporal.js';

const HOUR = 3_600_000;

describe('backupctl health on the real services', () => {
  const database = uniqueName('health');
  const overrides = {
    DB_NAME: database,
    // Nothing listens there: health must never connect to PostgreSQL (nor need DB_PASSWORD).
    DB_PORT: '1',
    BACKUP_DIR: tempDir('backups'),
    S3_PREFIX: `${uniqueName('health')}/`,
    TEMPORAL_TASK_QUEUE: uniqueName('health'),
  };
  const env = testEnv(overrides);
  const reports = join(overrides.BACKUP_DIR, 'reports');
  let config: Config;
  let stores: Stores<LocalStore>;
  let client: Client;
  let backup: BackupResult;

  /** backupctl health with the test's variables and some others; lines of stdout by check. */
  async function health(args: string[] = [], extra: Record<string, string> = {}) {
    const run = await backupctl(['health', ...args], { ...env, ...extra });
    const line = (check: string) => run.stdout.split('\n').find((l) => l.includes(` ${database}/${check}: `));
    return { ...run, line };
  }

  function writeDrillReport(name: string, finishedAt: Date, ok: boolean): void {
    const report: DrillReport = {
      database,
      workflowId: `drill-${name}`,
      startedAt: new Date(finishedAt.getTime() - 60_000).toISOString(),
      finishedAt: finishedAt.toISOString(),
      ok,
      scratchDatabase: `${database}_drill`,
      phases: [],
      rtoMs: 60_000,
      rtoTargetMs: HOUR,
      withinTarget: ok,
      scratchDropped: true,
      error: ok ? undefined : 'restore failed: row counts differ',
    };
    mkdirSync(reports, { recursive: true });
    writeFileSync(join(reports, `drill-${name}.json`), JSON.stringify(report));
  }

  async function downloaded(key: string): Promise<string> {
    const path = join(tempDir('download'), 'copy');
    await download(s3StoreOf(config), key, path);
    return path;
  }

  beforeAll(async () => {
    await seedDatabase(database, 50);
    config = testConfig({ ...overrides, DB_PORT: '5432' });
    stores = openStores(config);
    backup = await withWorker(config, async (c) =>
      waitForBackup(await startBackup(c, { database, taskQueue: config.temporal.taskQueue })),
    );
    client = await connectClient(config.temporal);
    await applySchedules(client, config);
    writeDrillReport('20260101-000000', new Date(Date.now() - HOUR), true);
  });

  afterAll(async () => {
    await deleteSchedules(client, config).catch(() => undefined);
    await client.connection.close();
    await dropDatabase(database);
  });

  it('is healthy after a fresh backup: five ok lines, exit 0, without DB_PASSWORD or a database', async () => {
    expect(env.DB_PASSWORD).toBeUndefined();
    const run = await health();
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.stdout.split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(
          `^ok ${database}/backup-age: newest complete backup ${backup.key} is 0\\.0 h old \\(limit 30 h\\)$`,
        ),
      ),
      `ok ${database}/copies: 1 backups, each locally and in the bucket with the same size and checksum`,
      expect.stringMatching(
        new RegExp(
          `^ok ${database}/disk-space: \\d+ MiB free in ${overrides.BACKUP_DIR} \\(minimum 1024 MiB\\)$`,
        ),
      ),
      `ok ${database}/schedules: backup-${database}, retention-${database}, drill-${database}, reread-${database} active; 0 with a finished run, none failed last`,
      `ok ${database}/drill: newest successful drill 1.0 h old (limit 30 h)`,
    ]);
    const json = await health(['--json']);
    expect(JSON.parse(json.stdout)).toMatchObject([
      {
        database,
        drift: { checked: 1, drift: [] },
        repairs: [],
        checks: expect.arrayContaining([{ check: 'drill', ok: true, detail: expect.any(String) }]),
      },
    ]);
  });

  it('(a) fails when the newest backup is older than HEALTH_MAX_AGE_HOURS', async () => {
    const original = await readFile(stores.local.pathOf(backup.manifestKey), 'utf8');
    const old = {
      ...parseManifest(original, 'local'),
      createdAt: new Date(Date.now() - 31 * HOUR).toISOString(),
    };
    try {
      await putSignedManifest(config, storeList(stores), backup.manifestKey, old);
      const run = await health();
      expect(run.exitCode).toBe(1);
      expect(run.line('backup-age')).toBe(
        `FAIL ${database}/backup-age: newest complete backup ${backup.key} is 31.0 h old (limit 30 h)`,
      );
      expect(run.stderr).toContain('error: unhealthy: 1 of 5 checks failed');
      expect((await health([], { HEALTH_MAX_AGE_HOURS: '48' })).exitCode).toBe(0);
    } finally {
      await putSignedManifest(
        config,
        storeList(stores),
        backup.manifestKey,
        parseManifest(original, 'local'),
      );
    }
  });

  it('(b) fails when the remote copy is gone; --repair uploads it again, byte for byte', async () => {
    const remote = stores.remote!;
    await remote.remove(backup.key);
    await remote.remove(backup.manifestKey);
    const broken = await health();
    expect(broken.exitCode).toBe(1);
    expect(broken.line('copies')).toBe(
      `FAIL ${database}/copies: 1 of 1 backups drift: ${backup.key} (no remote copy); 1 repairable with --repair`,
    );

    const repaired = await health(['--repair']);
    expect(repaired.exitCode, repaired.stdout + repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain(
      `repaired ${database}/${backup.key}: uploaded ${backup.fileBytes} bytes to ${remote.location}${backup.key} (${config.s3!.storageClasses![backup.kind]}), then its manifest`,
    );
    expect(repaired.line('copies')).toMatch(/^ok /);

    const copy = join(tempDir('download'), 'copy');
    await download(s3StoreOf(config), backup.key, copy);
    expect(await sha256File(copy)).toBe(await sha256File(backup.localPath));
    const remoteManifest = Buffer.concat(await (await remote.read(backup.manifestKey)).toArray()).toString();
    expect(remoteManifest).toBe(await readFile(stores.local.pathOf(backup.manifestKey), 'utf8'));
    expect((await remote.stat(backup.key))?.storageClass).toBe(
      parseManifest(remoteManifest, 'remote').remote?.storageClass,
    );
  });

  it('(b) reports a damaged remote object as drift, in health and in the retention sweep', async () => {
    const damaged = join(tempDir('damaged'), 'copy');
    await writeFile(damaged, 'not the backup');
    // In the class its manifest records (STANDARD_IA for a weekly backup, taken on a Sunday): the
    // damage must be the one drift, whatever the day.
    await stores.remote!.putFile(backup.key, damaged, {
      storageClass: config.s3!.storageClasses![backup.kind],
    });
    const run = await health();
    expect(run.exitCode).toBe(1);
    expect(run.line('copies')).toContain(
      `${backup.key} (remote archive has 14 bytes, its manifest says ${backup.fileBytes}`,
    );

    const sweep = await withWorker(config, async (c) =>
      waitForRetention(await startRetention(c, { database, taskQueue: config.temporal.taskQueue })),
    );
    expect(sweep.deleted).toEqual([]);
    expect(sweep.drift).toEqual({
      checked: 1,
      drift: [
        {
          manifestKey: backup.manifestKey,
          dataKey: backup.key,
          createdAt: expect.any(String),
          problems: [`remote archive has 14 bytes, its manifest says ${backup.fileBytes}`],
          repairable: true,
        },
      ],
    });
    expect((await health(['--repair'])).exitCode).toBe(0);
  });

  it('(b) reports a remote copy in another storage class than its manifest records, and leaves it', async () => {
    const remote = stores.remote!;
    const recorded = config.s3!.storageClasses![backup.kind];
    const other = recorded === 'STANDARD_IA' ? 'STANDARD' : 'STANDARD_IA';
    // As a lifecycle rule or a hand would: same bytes, another class.
    await remote.putFile(backup.key, backup.localPath, { storageClass: other });
    const run = await health(['--repair']);
    expect(run.exitCode).toBe(1);
    expect(run.line('copies')).toContain(
      `${backup.key} (remote storage class ${other}, the manifest says ${recorded})`,
    );
    expect((await remote.stat(backup.key))?.storageClass).toBe(other);
    await remote.putFile(backup.key, backup.localPath, { storageClass: recorded });
    expect((await health()).exitCode).toBe(0);
  });

  it('(b) leaves a damaged local copy alone: --repair verifies it against its manifest first', async () => {
    const remote = stores.remote!;
    const original = await readFile(backup.localPath);
    await remote.remove(backup.key);
    try {
      const damaged = Buffer.from(original);
      damaged.writeUInt8(damaged.readUInt8(0) ^ 0xff, 0);
      writeFileSync(backup.localPath, damaged);
      const run = await health(['--repair']);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).toMatch(
        new RegExp(
          `^NOT repaired ${database}/${backup.key}: the local copy does not match its manifest`,
          'm',
        ),
      );
      expect(await remote.stat(backup.key)).toBeUndefined();
    } finally {
      writeFileSync(backup.localPath, original);
    }
    expect((await health(['--repair'])).exitCode).toBe(0);
  });

  it('(b) never uploads an untrusted local copy over a good remote one', async () => {
    // Someone who can write BACKUP_DIR swaps the archive and writes an unsigned manifest to match it.
    const paths = [backup.localPath, stores.local.pathOf(backup.manifestKey)];
    const saved = await Promise.all(paths.map((path) => readFile(path)));
    const remoteBefore = await sha256File(await downloaded(backup.key));
    try {
      const forged = Buffer.from('forged archive, same name');
      writeFileSync(backup.localPath, forged);
      const manifest = parseManifest(saved[1]!.toString(), 'local');
      const file = { ...manifest.file, bytes: forged.length, sha256: await sha256File(backup.localPath) };
      writeFileSync(paths[1]!, JSON.stringify({ ...manifest, file, signer: undefined }));
      const run = await health(['--repair']);
      expect(run.exitCode).toBe(1);
      expect(run.stdout).not.toMatch(/repaired/);
      expect(run.line('copies')).toContain(`${backup.key} (local copy not trusted: bad signature`);
      expect(await sha256File(await downloaded(backup.key))).toBe(remoteBefore);
    } finally {
      paths.forEach((path, i) => writeFileSync(path, saved[i]!));
    }
    expect((await health()).exitCode).toBe(0);
  });

  it('(c) fails when BACKUP_DIR has less free space than HEALTH_MIN_FREE_MB', async () => {
    const run = await health([], { HEALTH_MIN_FREE_MB: String(1024 ** 3) });
    expect(run.exitCode).toBe(1);
    expect(run.line('disk-space')).toMatch(
      new RegExp(`^FAIL ${database}/disk-space: \\d+ MiB free in .* \\(minimum 1073741824 MiB\\)$`),
    );
  });

  it('(d) fails a paused schedule, a failed last run and missing schedules', async () => {
    await pauseSchedules(client, config, 'backup', 'storage maintenance');
    const paused = await health();
    expect(paused.line('schedules')).toBe(
      `FAIL ${database}/schedules: backup-${database} paused: storage maintenance`,
    );
    await unpauseSchedules(client, config, 'backup');

    // No worker polls the queue: the run waits, and is terminated, which a failed run looks like.
    const [id] = await triggerSchedules(client, config, 'retention');
    const workflowId = await firstActionOf(client, id!);
    await client.workflow.getHandle(workflowId).terminate('health test');
    const failedRun = await health();
    expect(failedRun.exitCode).toBe(1);
    expect(failedRun.line('schedules')).toBe(
      `FAIL ${database}/schedules: retention-${database}: last run ${workflowId} terminated`,
    );

    await deleteSchedules(client, config);
    const missing = await health();
    expect(missing.line('schedules')).toBe(
      `FAIL ${database}/schedules: ${['backup', 'retention', 'drill', 'reread'].map((kind) => `${kind}-${database} missing (backupctl schedules apply)`).join('; ')}`,
    );
    await applySchedules(client, config);
    expect((await health()).exitCode).toBe(0);
  });

  it('(d) fails with a clear line when Temporal is unreachable; the other checks still run', async () => {
    const run = await health([], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(run.exitCode).toBe(1);
    expect(run.line('schedules')).toMatch(
      new RegExp(`^FAIL ${database}/schedules: cannot reach Temporal at 127\\.0\\.0\\.1:1: `),
    );
    for (const check of ['backup-age', 'copies', 'disk-space', 'drill'])
      expect(run.line(check)).toMatch(/^ok /);
  });

  it('(e) fails without a drill report, with an old one and with a failed one', async () => {
    rmSync(reports, { recursive: true });
    try {
      expect((await health()).line('drill')).toBe(`FAIL ${database}/drill: no successful drill yet`);
      writeDrillReport('20250101-000000', new Date(Date.now() - 31 * HOUR), true);
      expect((await health()).line('drill')).toBe(
        `FAIL ${database}/drill: newest successful drill 31.0 h old (limit 30 h)`,
      );
      writeDrillReport('20260102-000000', new Date(Date.now() - HOUR), false);
      const run = await health();
      expect(run.exitCode).toBe(1);
      expect(run.line('drill')).toBe(
        `FAIL ${database}/drill: newest successful drill 31.0 h old (limit 30 h); the last drill failed: restore failed: row counts differ`,
      );
    } finally {
      rmSync(reports, { recursive: true, force: true });
      writeDrillReport('20260101-000000', new Date(Date.now() - HOUR), true);
    }
  });
});
