import type { Client } from '@temporalio/client';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startRetention, waitForRetention } from '../../src/client/index.js';
import { listCompleteBackups } from '../../src/storage/catalog.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { MANIFEST_SUFFIX, manifestKeyFor } from '../../src/core/naming.js';
import { openStores, storeList, type Stores } from '../../src/storage/index.js';
import { keysIn, seedBackup } from '../helpers/backups.js';
import { tempDir } from '../helpers/files.js';
import { createDatabase, dropDatabase } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startedActivities } from '../helpers/temporal.js';
import { startThrottleProxy, type ThrottleProxy } from '../helpers/throttle-proxy.js';
import { killWorker, startWorkerProcess, until } from '../helpers/worker-process.js';
import { SIGNATURE_SUFFIX, signatureKeyFor } from '../../src/core/trust.js';

// Fault 7 of the fault-injection suite: the worker running a retention sweep is killed (SIGKILL)
// half-way through the deletions.

const DAY = 24 * 60 * 60 * 1000;
const BACKUPS = 40;

const database = uniqueName('fr');
let env: Record<string, string>;
let config: Config;
let stores: Stores;
let client: Client;
let proxy: ThrottleProxy;
let worker: ResultPromise | undefined;

beforeAll(async () => {
  await createDatabase(database);
  env = testEnv({
    DB_NAME: database,
    BACKUP_DIR: tempDir('backups'),
    S3_PREFIX: `${uniqueName('fr')}/`,
    TEMPORAL_TASK_QUEUE: uniqueName('fr'),
    WORKER_HOST_ID: 'sweep-host',
  });
  config = loadConfig({ env });
  stores = openStores(config);
  // A backup at 02:00 UTC every day for 40 days, in BACKUP_DIR and in the bucket: the guide keeps
  // 7 dailies, 4 weeklies and the monthlies, so the sweep deletes most of them.
  const today = new Date();
  today.setUTCHours(2, 0, 0, 0);
  for (let daysAgo = 1; daysAgo <= BACKUPS; daysAgo += 1)
    await seedBackup(config, stores, new Date(today.getTime() - daysAgo * DAY), 'both');
  proxy = await startThrottleProxy(new URL(config.s3!.endpoint!), 100 * 1024 * 1024);
  client = await connectClient(config.temporal);
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker;
  await proxy?.close();
  await client?.connection.close();
  await dropDatabase(database);
});

/** In one store's keys: data whose manifest is missing, and manifests whose data is missing. */
function unpaired(keys: string[]): { dataWithoutManifest: string[]; manifestsWithoutData: string[] } {
  const present = new Set(keys);
  const data = keys.filter((k) => !k.endsWith(MANIFEST_SUFFIX) && !k.endsWith(SIGNATURE_SUFFIX));
  return {
    dataWithoutManifest: data.filter((k) => !present.has(manifestKeyFor(k)!)),
    manifestsWithoutData: keys
      .filter((k) => k.endsWith(MANIFEST_SUFFIX))
      .filter((m) => !data.some((k) => manifestKeyFor(k) === m)),
  };
}

describe('a retention sweep whose worker is killed half-way', () => {
  it('leaves no manifest without its data, and is finished by a new worker', async () => {
    worker = startWorkerProcess({ ...env, S3_ENDPOINT: proxy.url });
    const handle = await startRetention(client, { database, taskQueue: config.temporal.taskQueue });

    // Once the plan is made and deletions begin, each request to the bucket takes about a second.
    await until('the first deletion', async () => {
      const { raw } = await handle.describe();
      return raw.pendingActivities?.some((a) => a.activityType?.name === 'deleteBackup') ? true : undefined;
    });
    proxy.setBytesPerSecond(600);

    // Kill the worker inside a deletion: one backup's manifests are gone, its data is not yet.
    const victim = await until(
      'a backup half-deleted',
      async () => unpaired((await keysIn(stores)).remote).dataWithoutManifest[0],
      60_000,
      50,
    );
    await killWorker(worker);
    worker = undefined;

    // What the dead worker left: no manifest points at a missing object; the only data without a
    // manifest is the backup it was deleting, which the catalog no longer counts as a backup.
    const left = await keysIn(stores);
    for (const keys of [left.local, left.remote]) {
      const { dataWithoutManifest, manifestsWithoutData } = unpaired(keys);
      expect(manifestsWithoutData).toEqual([]);
      expect(dataWithoutManifest.filter((k) => k !== victim)).toEqual([]);
    }
    const catalog = await listCompleteBackups(storeList(stores));
    expect(catalog.map((e) => e.manifest.file.key)).not.toContain(victim);
    const remaining = left.remote.filter(
      (k) => !k.endsWith(MANIFEST_SUFFIX) && !k.endsWith(SIGNATURE_SUFFIX),
    ).length;
    expect(remaining).toBeGreaterThan(12); // killed half-way indeed: most deletions were still to come

    // A new worker (straight to the bucket) takes the sweep over once the dead one's heartbeat
    // times out, deletes the rest of the plan, and finishes the half-deleted backup.
    worker = startWorkerProcess(env);
    const result = await waitForRetention(handle);
    const doomed = result.plan.filter((p) => p.action === 'delete').map((p) => p.dataKey);
    expect(result.deleted).toEqual(doomed);
    expect(doomed).toContain(victim);
    const retried = (await startedActivities(handle)).filter((a) => a.attempt > 1);
    expect(retried).toEqual([
      { activity: 'deleteBackup', attempt: 2, lastFailure: expect.stringMatching(/heartbeat/i) },
    ]);

    // Exactly the backups the plan keeps are left, each with its manifest, in both places.
    const kept = result.plan.filter((p) => p.action === 'keep');
    const expected = kept.flatMap((p) => [p.dataKey, p.id, signatureKeyFor(p.id)]).sort();
    const after = await keysIn(stores);
    expect(after.local).toEqual(expected);
    expect(after.remote).toEqual(expected);

    // The next sweep finds the plan done: nothing to delete, nothing left over to clean.
    const next = await waitForRetention(
      await startRetention(client, { database, taskQueue: config.temporal.taskQueue }),
    );
    expect(next.deleted).toEqual([]);
    expect(next.plan.map((p) => p.dataKey).sort()).toEqual(kept.map((p) => p.dataKey).sort());
    expect(next.cleanup).toEqual({ abortedUploads: [], orphanData: [], danglingManifests: [] });
  }, 150_000);
});
