import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRetention, waitForRetention } from '../../src/client/index.js';
import { classifyBackup } from '../../src/core/classify.js';
import { cleanupIncomplete } from '../../src/retention/sweep.js';
import type { Config } from '../../src/config/index.js';
import { openStores, type Stores } from '../../src/storage/index.js';
import { createS3Client } from '../../src/storage/s3/client.js';
import { keysIn, seedBackup } from '../helpers/backups.js';
import { tempDir } from '../helpers/files.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { testConfig, testEnv, uniqueName } from '../helpers/services.js';
import { backupctl } from '../helpers/cli.js';
import { withWorker } from '../helpers/temporal.js';

const DAY = 24 * 60 * 60 * 1000;

describe('retention sweep on the real services', () => {
  const database = uniqueName('retention');
  let config: Config;
  let stores: Stores;
  const expected: string[] = [];
  let soleCopy: string;

  beforeAll(async () => {
    await seedDatabase(database, 10);
    config = testConfig({
      DB_NAME: database,
      BACKUP_DIR: tempDir('backups'),
      S3_PREFIX: `${uniqueName('retention')}/`,
      TEMPORAL_TASK_QUEUE: uniqueName('retention'),
    });
    stores = openStores(config);
    // A backup at 02:00 UTC every day for eight months, up to today.
    const today = new Date();
    today.setUTCHours(2, 0, 0, 0);
    for (let daysAgo = 1; daysAgo <= 243; daysAgo += 1) {
      const createdAt = new Date(today.getTime() - daysAgo * DAY);
      const age = Date.now() - createdAt.getTime();
      const kind = classifyBackup(createdAt, 'UTC');
      const sixMonthsLater = new Date(createdAt);
      sixMonthsLater.setUTCMonth(sixMonthsLater.getUTCMonth() + 6);
      const kept =
        age <= 7 * DAY ||
        (kind === 'weekly' && age <= 28 * DAY) ||
        (kind === 'monthly' && sixMonthsLater.getTime() >= Date.now());
      const key = await seedBackup(config, stores, createdAt, 'both');
      if (kept) expected.push(key);
    }
    expected.push(
      await seedBackup(
        config,
        stores,
        new Date(today.getTime() - 200 * DAY - 3_600_000),
        'both',
        'pre-v1-upgrade',
      ),
    );
    soleCopy = await seedBackup(config, stores, new Date(today.getTime() - 100 * DAY - 3_600_000), 'local');
  });
  afterAll(() => dropDatabase(database));

  it('leaves exactly the backups the guide keeps, in both places, and a second sweep deletes nothing', async () => {
    const [first, second] = await withWorker(config, async (client) => {
      const run = async () =>
        waitForRetention(await startRetention(client, { database, taskQueue: config.temporal.taskQueue }));
      return [await run(), await run()];
    });
    const dataKeys = (keys: string[]) => keys.filter((k) => !/\.manifest\.json(\.sig)?$/.test(k));
    const left = await keysIn(stores);
    expect(dataKeys(left.remote)).toEqual([...expected].sort());
    expect(dataKeys(left.local)).toEqual([...expected, soleCopy].sort());
    // Every remaining data file has its manifest and signature, and no manifest is left without data.
    expect(left.remote).toHaveLength(3 * expected.length);
    expect(left.local).toHaveLength(3 * (expected.length + 1));
    expect(first.deleted.length).toBe(243 - expected.length + 1);
    expect(first.plan.find((p) => p.dataKey === soleCopy)).toMatchObject({
      action: 'keep',
      reason: 'sole-copy',
    });
    expect(second.deleted).toEqual([]);
  }, 180_000);

  it('shows the plan as of any date with prune --dry-run, and refuses a malformed date', async () => {
    const env = testEnv({
      DB_NAME: database,
      BACKUP_DIR: config.backup.dir,
      S3_PREFIX: config.s3!.prefix,
      TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    });
    const past = await backupctl(['prune', '--dry-run', '--as-of', '2020-01-01', '--json'], env);
    expect(past.exitCode, past.stderr).toBe(0);
    const { plan } = JSON.parse(past.stdout) as { plan: { action: string; reason: string }[] };
    expect(plan.length).toBeGreaterThan(0);
    expect(plan.every((p) => p.action === 'keep')).toBe(true);
    const text = await backupctl(['prune', '--dry-run'], env);
    expect(text.stdout).toMatch(/^as of .*: \d+ backups, 0 to delete$/m);

    const malformed = await backupctl(['prune', '--dry-run', '--as-of', '15/03/2024'], env);
    expect(malformed.exitCode).toBe(3);
    expect(malformed.stderr).toContain('--as-of: "15/03/2024" is not an ISO 8601 date');
    expect((await backupctl(['prune', '--as-of', '2024-03-15'], env)).exitCode).toBe(3);
  });

  it('removes what failed runs left once it is stale: unfinished uploads, data without a manifest', async () => {
    const s3 = createS3Client(config.s3!);
    await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: config.s3!.bucket,
        Key: `${config.s3!.prefix}${config.backup.prefix}-20200101-000000.dump`,
      }),
    );
    await stores.remote!.putBytes(`${config.backup.prefix}-20200102-000000.dump.gpg`, 'orphan');
    await stores.local.putBytes(`${config.backup.prefix}-20200103-000000.manifest.json`, '{}');
    await stores.remote!.putBytes('someone-elses.dump', 'not ours');

    // Younger than the cut-off: a run may still be writing them; nothing is touched.
    const young = await cleanupIncomplete(stores, config.backup.prefix, new Date(Date.now() - DAY));
    expect(young).toEqual({ abortedUploads: [], orphanData: [], danglingManifests: [] });

    const stale = await cleanupIncomplete(stores, config.backup.prefix, new Date(Date.now() + 60_000));
    expect(stale.abortedUploads).toHaveLength(1);
    expect(stale.orphanData).toEqual([
      `${stores.remote!.location}${config.backup.prefix}-20200102-000000.dump.gpg`,
    ]);
    expect(stale.danglingManifests).toEqual([
      `${config.backup.dir}/${config.backup.prefix}-20200103-000000.manifest.json`,
    ]);
    const { Uploads } = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }),
    );
    expect(Uploads ?? []).toEqual([]);
    expect(await stores.remote!.stat('someone-elses.dump')).toBeDefined();
  });
});
