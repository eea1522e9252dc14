import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive } from '../helpers/processes.js';
import { postmasterPid } from '../../src/pitr/scratch-leftovers.js';
import { scratchRoot } from '../../src/pitr/scratch.js';
import { backupctl } from '../helpers/cli.js';
import { archiveNow, backedUpCluster, serverNow, type BackedUpCluster } from '../helpers/pitr-data.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { killWorker, startWorkerProcess, until } from '../helpers/worker-process.js';

// Issue #21: a worker killed while its scratch server recovers. The retry, on another worker, finds
// the dead worker's scratch folder and the server still running in it, stops and removes them, and
// the restore completes; nothing is left behind.

let setup: BackedUpCluster;
let second: TestWorker | undefined;

beforeAll(async () => {
  setup = await backedUpCluster();
  await setup.cluster.psql('CREATE TABLE t AS SELECT generate_series(1, 5) AS id');
}, 180_000);

afterAll(async () => {
  await second?.stop();
  await setup?.cluster.remove();
});

describe('a worker killed during a restore to a moment', () => {
  it('leaves nothing behind once the next run has been', async () => {
    const { cluster } = setup;
    await new Promise((r) => setTimeout(r, 1_100));
    const moment = await serverNow(cluster);
    await new Promise((r) => setTimeout(r, 1_100));
    await cluster.psql('INSERT INTO t SELECT 6');
    await archiveNow(cluster);
    const env = testEnv({
      ...setup.env,
      TEMPORAL_TASK_QUEUE: uniqueName('pitr-kill'),
      BACKUP_RETRY_ATTEMPTS: '3',
    });
    const first = startWorkerProcess(env);
    const started = await backupctl(
      ['restore', '--to', moment, '--target-db', 'after_kill', '--create-db', '--force', '--print-id'],
      env,
    );
    expect(started.exitCode, started.stderr).toBe(0);
    const root = scratchRoot(setup.config.pitr!.configDir, setup.br.stanza);
    const dataDir = await until(
      'the scratch server',
      () => {
        const dir = existsSync(root)
          ? readdirSync(root).find((n) => existsSync(`${root}/${n}/data/postmaster.pid`))
          : undefined;
        return dir ? `${root}/${dir}/data` : undefined;
      },
      120_000,
      20,
    );
    await killWorker(first);
    const postmaster = postmasterPid(dataDir);
    expect(alive(postmaster)).toBe(true);

    second = await startTestWorker('pitr-kill', {
      ...setup.env,
      TEMPORAL_TASK_QUEUE: env.TEMPORAL_TASK_QUEUE!,
    });
    const done = await backupctl(['status', started.stdout.trim(), '--wait'], env);
    expect(done.exitCode, done.stderr + done.stdout).toBe(0);
    expect(await cluster.psql('SELECT count(*) FROM t', 'after_kill')).toBe('5');
    expect(readdirSync(root)).toEqual([]);
    expect(alive(postmaster)).toBe(false);
  }, 180_000);
});
