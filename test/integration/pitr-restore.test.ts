import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchRoot } from '../../src/pitr/scratch.js';
import { backupctl, type CliRun } from '../helpers/cli.js';
import { decodedPayloads } from '../helpers/histories.js';
import { archiveNow, backedUpCluster, serverNow, type BackedUpCluster } from '../helpers/pitr-data.js';
import { processesMatching } from '../helpers/processes.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { until } from '../helpers/worker-process.js';

// Issue #21: restore to a moment. Rows written each second into a private archiving cluster,
// DROP TABLE orders at T; `restore --to T-1s --table orders` brings orders back as it was while
// events keeps its rows written after T; a whole database restored to a moment matches a snapshot
// taken then. Through the workflow, the approval gate and the CLI.

const CIPHER_PASS = 'pitr-restore-cipher-passphrase-4b8e2d';

let setup: BackedUpCluster;
let worker: TestWorker;
/** The moment one second before the DROP, and what both tables held then. */
let moment: string;
let ordersAtMoment: string;
let eventsAtMoment: string;
let eventsAfterDrop: string;
const seen = new Map<number, { cmdline: string; environ: string }>();
let watcher: NodeJS.Timeout;

const snapshot = (table: string) =>
  `SELECT coalesce(string_agg(id || '@' || at, ',' ORDER BY id), '') FROM ${table}`;

beforeAll(async () => {
  setup = await backedUpCluster({ PITR_CIPHER_PASS: CIPHER_PASS });
  const { cluster } = setup;
  await cluster.psql(
    'CREATE TABLE orders (id serial primary key, at timestamptz not null default clock_timestamp()); CREATE TABLE events (id serial primary key, at timestamptz not null default clock_timestamp())',
  );
  const client = new pg.Client({
    host: cluster.dir,
    port: cluster.port,
    user: 'postgres',
    database: 'postgres',
  });
  await client.connect();
  let dropped = false;
  const write = async () => {
    if (!dropped) await client.query('INSERT INTO orders DEFAULT VALUES');
    await client.query('INSERT INTO events DEFAULT VALUES');
  };
  const writer = setInterval(() => void write().catch(() => undefined), 1_000);
  await new Promise((r) => setTimeout(r, 3_500));
  // The moment and the snapshot in one statement: what a reader saw then.
  const { rows } = await client.query<{ now: Date; orders: string; events: string }>(
    `SELECT now(), (${snapshot('orders')}) AS orders, (${snapshot('events')}) AS events`,
  );
  moment = rows[0]!.now.toISOString();
  ordersAtMoment = rows[0]!.orders;
  eventsAtMoment = rows[0]!.events;
  await new Promise((r) => setTimeout(r, 1_000));
  dropped = true;
  await client.query('DROP TABLE orders');
  await new Promise((r) => setTimeout(r, 2_500));
  clearInterval(writer);
  await client.end();
  eventsAfterDrop = await cluster.psql(snapshot('events'));
  await archiveNow(cluster);
  worker = await startTestWorker('pitr-restore', setup.env);
  watcher = setInterval(() => {
    for (const p of processesMatching('pgbackrest')) seen.set(p.pid, p);
    for (const p of processesMatching('pg_restore')) seen.set(p.pid, p);
  }, 20);
}, 180_000);

afterAll(async () => {
  clearInterval(watcher);
  await worker?.stop();
  await setup?.cluster.remove();
});

const restore = (args: string[]): Promise<CliRun> => backupctl(['restore', ...args], worker.env);

describe('backupctl restore --to', () => {
  it('--table orders after a DROP: orders back as at the moment, after an approval; events keeps its newer rows', async () => {
    expect(eventsAfterDrop.split(',').length).toBeGreaterThan(eventsAtMoment.split(',').length);
    const started = await restore([
      '--to',
      moment,
      '--table',
      'public.orders',
      '--target-db',
      'postgres',
      '--print-id',
    ]);
    expect(started.exitCode, started.stderr).toBe(0);
    const id = started.stdout.trim();
    const plan = await until('the plan', async () => {
      const run = await backupctl(['status', id], worker.env);
      return run.stdout.includes('awaiting-approval') ? run.stdout : undefined;
    });
    expect(plan).toMatch(/base backup: \d{8}-\d{6}F \(full, ended /);
    expect(plan).toMatch(/WAL: [0-9A-F]{24} to at most [0-9A-F]{24}/);
    expect(plan).toMatch(/expected time: about \d+ s/);
    expect(plan).toContain('public.orders (absent now: created)');
    const approved = await backupctl(['approve', id, '--by', 'alice'], worker.env);
    expect(approved.exitCode, approved.stderr).toBe(0);
    const done = await backupctl(['status', id, '--wait'], worker.env);
    expect(done.exitCode, done.stderr + done.stdout).toBe(0);

    expect(await setup.cluster.psql(snapshot('orders'))).toBe(ordersAtMoment);
    expect(await setup.cluster.psql(snapshot('events'))).toBe(eventsAfterDrop);
    expect(readdirSync(scratchRoot(setup.config.pitr!.configDir, setup.br.stanza))).toEqual([]);

    const history = JSON.stringify((await worker.client.workflow.getHandle(id).fetchHistory()).events);
    expect([history, ...decodedPayloads(history)].join('\n')).not.toContain(CIPHER_PASS);
  });

  it('a whole database to the moment, into a new one: both tables as a snapshot taken then', async () => {
    // A name that libpq would read as a connection string, were it given as one: the data must go
    // into this database on this server, nowhere else.
    const target = 'app_at_moment host=127.0.0.9 port=1';
    const run = await restore(['--to', moment, '--target-db', target, '--create-db', '--force', '--wait']);
    expect(run.exitCode, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain('restore complete');
    const asConninfo = `dbname='${target}'`;
    expect(await setup.cluster.psql(snapshot('orders'), asConninfo)).toBe(ordersAtMoment);
    expect(await setup.cluster.psql(snapshot('events'), asConninfo)).toBe(eventsAtMoment);
  });

  it('refuses a moment before the oldest backup, or in the future, with the target untouched', async () => {
    const before = await restore([
      '--to',
      '2020-01-01 00:00:00+00',
      '--target-db',
      'x_old',
      '--create-db',
      '--force',
      '--wait',
    ]);
    expect(before.exitCode, before.stderr).toBe(3);
    expect(before.stderr).toMatch(
      /--to: 2020-01-01T00:00:00.000Z is before the oldest physical backup ended/,
    );
    const now = await serverNow(setup.cluster);
    const future = new Date(Date.parse(now) + 3_600_000).toISOString();
    const later = await restore(['--to', future, '--target-db', 'x_new', '--create-db', '--force', '--wait']);
    expect(later.exitCode).toBe(3);
    expect(later.stderr).toMatch(/is in the future/);
    expect(
      await setup.cluster.psql("SELECT count(*) FROM pg_database WHERE datname IN ('x_old', 'x_new')"),
    ).toBe('0');
  });

  it('no secret in an argument list or an environment of pgbackrest or pg_restore', () => {
    expect(seen.size).toBeGreaterThan(0);
    for (const p of seen.values()) {
      expect(p.cmdline).not.toContain(CIPHER_PASS);
      expect(p.environ).not.toContain(CIPHER_PASS);
    }
  });
});
