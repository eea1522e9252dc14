import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPitrRestore } from '../../src/client/pitr-restore.js';
import { waitForRestore } from '../../src/client/restore.js';
import { failureOf } from '../helpers/errors.js';
import { backupctl } from '../helpers/cli.js';
import { archiveNow, backedUpCluster, type BackedUpCluster } from '../helpers/pitr-data.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Issue #21: `backupctl restore --cluster --to T` on a private cluster: refused while the server
// runs; with it stopped, pgBackRest restores its data directory (--delta), the server is started,
// recovered to T and promoted.

let setup: BackedUpCluster;
let worker: TestWorker;
let moment: string;

beforeAll(async () => {
  setup = await backedUpCluster({}, { persistSettings: true });
  const { cluster } = setup;
  await cluster.psql('CREATE TABLE t (id int primary key)');
  await cluster.psql('INSERT INTO t SELECT generate_series(1, 7)');
  await new Promise((r) => setTimeout(r, 1_100));
  moment = new Date(
    await cluster.psql(`SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`),
  ).toISOString();
  await new Promise((r) => setTimeout(r, 1_100));
  await cluster.psql('INSERT INTO t SELECT generate_series(8, 20)');
  await archiveNow(cluster);
  worker = await startTestWorker('pitr-cluster', setup.env);
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await setup?.cluster.remove();
});

describe('backupctl restore --cluster', () => {
  it('the worker refuses a cluster restore that names a database too (no drill exception to borrow)', async () => {
    // Straight to Temporal, past the CLI's own check: --force with a drill's scratch database name.
    const handle = await startPitrRestore(worker.client, {
      database: worker.config.database.name,
      taskQueue: worker.config.temporal.taskQueue,
      cluster: true,
      force: true,
      createDb: true,
      target: { database: `${worker.config.database.name}_drill_x` },
    });
    const error = await failureOf(waitForRestore(handle));
    expect(error.kind).toBe('Configuration');
    expect(error.message).toContain('--cluster: not with --target-db');
    expect(await setup.cluster.psql('SELECT count(*) FROM t')).toBe('20');
  });

  it('refuses while the server runs; stopped, it is restored to the moment, started and promoted', async () => {
    const { cluster } = setup;
    const refused = await backupctl(
      ['restore', '--cluster', '--to', moment, '--force', '--wait'],
      worker.env,
    );
    expect(refused.exitCode, refused.stderr).toBe(3);
    expect(refused.stderr).toMatch(
      /restore --cluster: the server is running in .* a live data directory is never overwritten/,
    );
    expect(await cluster.psql('SELECT count(*) FROM t')).toBe('20');

    await cluster.stop();
    const run = await backupctl(['restore', '--cluster', '--to', moment, '--force', '--wait'], worker.env);
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toMatch(/base backup: \S+ \(full/);
    expect(run.stdout).toContain('started, recovered and promoted');
    expect(await cluster.psql('SELECT count(*) FROM t')).toBe('7');
    expect(await cluster.psql('SELECT pg_is_in_recovery()')).toBe('f');
  });
});
