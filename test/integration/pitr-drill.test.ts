import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEARTBEAT_SCHEMA, HEARTBEAT_TABLE } from '../../src/core/pitr-heartbeat.js';
import { scratchRoot } from '../../src/pitr/scratch.js';
import { backupctl } from '../helpers/cli.js';
import { backedUpCluster, type BackedUpCluster } from '../helpers/pitr-data.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Issue #21: the PITR drill. A scratch server recovered to a few seconds ago; the RTO is restore +
// recovery, the achieved RPO the moment less the newest heartbeat recovered; over
// RPO_TARGET_SECONDS the drill fails. drills list shows both.

const TABLE = `${HEARTBEAT_SCHEMA}.${HEARTBEAT_TABLE}`;
let setup: BackedUpCluster;
let worker: TestWorker;
let client: pg.Client;
let beating = true;
let timer: NodeJS.Timeout;

beforeAll(async () => {
  setup = await backedUpCluster({ RPO_TARGET_SECONDS: '4' });
  const { cluster } = setup;
  await cluster.psql(
    `CREATE SCHEMA ${HEARTBEAT_SCHEMA}; CREATE TABLE ${TABLE} (id int primary key default 1, beat timestamptz not null); CREATE TABLE other (at timestamptz default clock_timestamp())`,
  );
  client = new pg.Client({ host: cluster.dir, port: cluster.port, user: 'postgres', database: 'postgres' });
  await client.connect();
  // The worker's heartbeat writer (pitr-backup's), a beat a second here; other writes go on always.
  const tick = async () => {
    if (beating)
      await client.query(
        `INSERT INTO ${TABLE} (id, beat) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET beat = excluded.beat`,
      );
    await client.query('INSERT INTO other DEFAULT VALUES');
  };
  timer = setInterval(() => void tick().catch(() => undefined), 1_000);
  worker = await startTestWorker('pitr-drill', setup.env);
  await new Promise((r) => setTimeout(r, 4_000));
}, 180_000);

afterAll(async () => {
  clearInterval(timer);
  await client?.end();
  await worker?.stop();
  await setup?.cluster.remove();
});

describe('backupctl drill --pitr', () => {
  it('reports RTO and the achieved RPO; fails when the RPO is over its target; drills list shows both', async () => {
    const passed = await backupctl(['drill', '--pitr', '--lag', '4', '--wait'], worker.env);
    expect(passed.exitCode, passed.stderr + passed.stdout).toBe(0);
    expect(passed.stdout).toMatch(/drill passed/);
    expect(passed.stdout).toMatch(/RTO: {2}\d+\.\d s against a target of 1800\.0 s: within target/);
    const rpo = /RPO: {2}(\d+\.\d) s against a target of 4\.0 s: within target/.exec(passed.stdout);
    expect(rpo, passed.stdout).not.toBeNull();
    expect(Number(rpo![1])).toBeLessThanOrEqual(2);

    // The heartbeat stops (a worker that no longer writes it); the database goes on.
    beating = false;
    await new Promise((r) => setTimeout(r, 12_000));
    const failed = await backupctl(['drill', '--pitr', '--lag', '4', '--wait'], worker.env);
    expect(failed.exitCode, failed.stderr).toBe(1);
    expect(failed.stderr).toMatch(/PITR drill: achieved RPO \d+ s is over RPO_TARGET_SECONDS \(4 s\)/);
    expect(readdirSync(scratchRoot(setup.config.pitr!.configDir, setup.br.stanza))).toEqual([]);

    const list = await backupctl(['drills', 'list'], worker.env);
    expect(list.exitCode, list.stderr).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines[0]).toMatch(/STARTED +OK +RTO \/ TARGET +RPO \/ TARGET/);
    expect(lines[1]).toMatch(/FAILED .* OVER .*achieved RPO/);
    expect(lines[2]).toMatch(/ ok .*\/ 4\.0 s +pitr \d{8}-\d{6}F/);
  });
});
