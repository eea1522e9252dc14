// Generates (once) the benchmark database: three tables of mixed, realistic-looking data
// (text, numbers, timestamps, jsonb, some bytea) built server-side with INSERT ... SELECT
// generate_series, in rounds of one transaction each, until pg_database_size reaches the target.
// Resumable: an interrupted run continues after the last committed round. When done, the
// database gets primary keys, VACUUM (FREEZE, ANALYZE) (so the first timed read does not pay for
// hint bits) and a comment that marks it complete; later runs reuse it as it is.
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import pg from 'pg';
import { log } from './util.mjs';

const COMPLETE_MARK = 'durable-backup bench database: complete';
/** Rows per round and table (attachments get a quarter): at most ~90 MB on disk, about 0.9 kB an id. */
const MAX_ROUND_IDS = 100_000;
/** Rounds small enough that the two connections overshoot a small target by little. */
const roundIds = (targetBytes) =>
  Math.max(4_000, Math.min(MAX_ROUND_IDS, Math.floor(targetBytes / 900 / 16 / 4) * 4));
/** Two connections: the machine has two cores, and the rounds are CPU-bound in the server. */
const PARALLEL = 2;

// Some prose to cut notes and attachment text from: compresses like text, not like zeros.
const LOREM = [
  'Customer asked to change the delivery window to the afternoon because nobody is home before two.',
  'Package arrived with a dented corner; the contents were fine and the customer kept the order.',
  'Refund issued after the second failed delivery attempt, carrier reference attached to the ticket.',
  'Invoice address differs from the shipping address; verified by phone with the account owner.',
  'Gift wrapping requested, with a card that reads: happy birthday, see you at the lake this summer.',
  'Backordered item split into a separate shipment, estimated arrival in nine to twelve working days.',
  'The payment provider flagged the transaction for review, released manually by the finance team.',
  'Customer prefers email over phone, do not call before ten in the morning, local time of the store.',
  'Replacement part shipped free of charge under warranty, old part to be returned within thirty days.',
  'Order merged with a previous one from the same customer to save on shipping, discount applied.',
].join(' ');

const STREETS = [
  'Main Street',
  'Oak Avenue',
  'Station Road',
  'Church Lane',
  'Mill Road',
  'High Street',
  'Park Drive',
  'Elm Court',
];
const CITIES = [
  'Springfield',
  'Riverton',
  'Lakeside',
  'Fairview',
  'Georgetown',
  'Salem',
  'Madison',
  'Clinton',
];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
];

const sqlArray = (values) => `ARRAY[${values.map((v) => `'${v.replace(/'/g, "''")}'`).join(',')}]`;
const pick = (values) => `(${sqlArray(values)})[1 + floor(random() * ${values.length})::int]`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bench_orders (
  id bigint NOT NULL, customer_id integer NOT NULL, created_at timestamptz NOT NULL,
  status text NOT NULL, amount numeric(12,2) NOT NULL, currency char(3) NOT NULL,
  email text NOT NULL, shipping_address text NOT NULL, tracking_code text NOT NULL, note text);
CREATE TABLE IF NOT EXISTS bench_events (
  id bigint NOT NULL, occurred_at timestamptz NOT NULL, kind text NOT NULL, payload jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS bench_attachments (
  id bigint NOT NULL, order_id bigint NOT NULL, mime text NOT NULL, checksum text NOT NULL,
  content bytea NOT NULL);`;

const INSERT_ORDERS = `
INSERT INTO bench_orders
SELECT g,
  1 + floor(random() * 200000)::int,
  timestamptz '2020-01-01 00:00:00+00' + g * interval '9 seconds' + random() * interval '1 hour',
  ${pick(['new', 'paid', 'paid', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled', 'refunded'])},
  round((random() * random() * 2000)::numeric, 2),
  ${pick(['EUR', 'USD', 'USD', 'GBP', 'CHF'])},
  'customer' || floor(random() * 200000)::int || '@' || ${pick(['example.com', 'mail.test', 'corp.example', 'shop.test'])},
  (1 + floor(random() * 999)::int) || ' ' || ${pick(STREETS)} || ', ' || lpad(floor(random() * 99999)::int::text, 5, '0')
    || ' ' || ${pick(CITIES)},
  upper(substr(md5(random()::text), 1, 24)),
  CASE WHEN random() < 0.3 THEN NULL
       ELSE substr($3, 1 + floor(random() * 700)::int, 30 + floor(random() * 170)::int) END
FROM generate_series($1::bigint, $2::bigint) AS g`;

const INSERT_EVENTS = `
INSERT INTO bench_events
SELECT g,
  timestamptz '2020-01-01 00:00:00+00' + g * interval '9 seconds',
  ${pick(['page_view', 'page_view', 'page_view', 'add_to_cart', 'search', 'checkout', 'login', 'logout'])},
  jsonb_build_object(
    'user_id', floor(random() * 200000)::int,
    'session', md5(random()::text),
    'request_id', md5(random()::text),
    'ip', '10.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int || '.' || floor(random() * 256)::int,
    'path', '/' || ${pick(['products', 'cart', 'checkout', 'account', 'search', 'help'])} || '/' || floor(random() * 5000)::int,
    'user_agent', ${pick(AGENTS)},
    'duration_ms', floor(random() * 3000)::int,
    'ok', random() < 0.97,
    'tags', jsonb_build_array(${pick(['mobile', 'desktop', 'tablet'])}, ${pick(['new', 'returning'])}),
    'props', jsonb_build_object('price', round((random() * 500)::numeric, 2), 'qty', 1 + floor(random() * 5)::int,
                                'ab_bucket', ${pick(['a', 'b', 'control'])}))
FROM generate_series($1::bigint, $2::bigint) AS g`;

// ~850 bytes: a structured, compressible header, some prose, and 128 random bytes (like a
// thumbnail or an already-compressed blob). Below the 2 kB TOAST threshold, so stored as is.
const INSERT_ATTACHMENTS = `
INSERT INTO bench_attachments
SELECT g,
  g * 4 - floor(random() * 4)::int,
  ${pick(['application/pdf', 'image/png', 'image/jpeg', 'text/plain'])},
  md5(g::text || random()::text),
  convert_to(repeat('obj ' || g || ' 0 R /Type /Page /Length ' || floor(random() * 9000)::int || E'\\n', 6), 'UTF8')
    || convert_to(substr($3, 1 + floor(random() * 500)::int, 300), 'UTF8')
    || decode(md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text)
              || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex')
FROM generate_series($1::bigint, $2::bigint) AS g`;

export function benchDatabaseName(sizeGb) {
  return `bench_${String(sizeGb).replace(/[^0-9]+/g, '_')}gb`;
}

function clientFor(connection, database) {
  return new pg.Client({ ...connection, database, application_name: 'durable-backup bench' });
}

async function withClient(connection, database, work) {
  const client = clientFor(connection, database);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function databaseSize(connection, database) {
  return withClient(connection, 'postgres', async (c) => {
    const { rows } = await c.query(
      `SELECT pg_database_size(d.datname)::bigint AS size, shobj_description(d.oid, 'pg_database') AS comment
         FROM pg_database d WHERE d.datname = $1`,
      [database],
    );
    return rows[0] ? { size: Number(rows[0].size), complete: rows[0].comment === COMPLETE_MARK } : undefined;
  });
}

/**
 * Starts a timed run from a quiet disk: a checkpoint, then sync. A restore writes gigabytes of
 * data and WAL; without this, the next run pays for flushing them, whichever run comes next.
 */
export async function settle(connection) {
  await withClient(connection, 'postgres', (c) => c.query('CHECKPOINT'));
  await execa('sync');
}

export async function dropDatabase(connection, database) {
  await withClient(connection, 'postgres', (c) =>
    c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`),
  );
}

/** Makes sure `database` exists, is complete and holds at least targetBytes; returns its size. */
export async function ensureBenchDatabase(connection, database, targetBytes) {
  let state = await databaseSize(connection, database);
  if (state?.complete && state.size >= targetBytes) {
    log(`database ${database}: reusing, ${(state.size / 2 ** 30).toFixed(2)} GiB`);
    return state.size;
  }
  const started = performance.now();
  if (!state) {
    log(`database ${database}: creating`);
    await withClient(connection, 'postgres', (c) =>
      c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`),
    );
  } else {
    log(`database ${database}: exists (${(state.size / 2 ** 30).toFixed(2)} GiB), not complete: continuing`);
  }
  await withClient(connection, database, (c) => c.query(SCHEMA));

  // Each round is one transaction, so everything up to the highest id is complete.
  let nextId = await withClient(connection, database, async (c) => {
    const { rows } = await c.query(
      `SELECT greatest((SELECT max(id) FROM bench_orders), (SELECT max(id) FROM bench_events), 0)::bigint AS m`,
    );
    return Number(rows[0].m) + 1;
  });
  const ids = roundIds(targetBytes);
  let size = state?.size ?? 0;
  let lastReport = 0;
  const worker = async () =>
    withClient(connection, database, async (c) => {
      await c.query('SET synchronous_commit = off');
      while (size < targetBytes) {
        const first = nextId;
        const last = first + ids - 1;
        nextId = last + 1;
        await c.query('BEGIN');
        await c.query(INSERT_ORDERS, [first, last, LOREM]);
        await c.query(INSERT_EVENTS, [first, last]);
        await c.query(
          INSERT_ATTACHMENTS,
          [first / 4, last / 4, LOREM].map((v, i) => (i < 2 ? Math.ceil(v) : v)),
        );
        await c.query('COMMIT');
        const { rows } = await c.query('SELECT pg_database_size(current_database())::bigint AS s');
        size = Math.max(size, Number(rows[0].s));
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          const seconds = (performance.now() - started) / 1000;
          log(
            `database ${database}: ${(size / 2 ** 30).toFixed(2)} of ${(targetBytes / 2 ** 30).toFixed(2)} GiB (${seconds.toFixed(0)} s)`,
          );
        }
      }
    });
  await Promise.all(Array.from({ length: PARALLEL }, worker));

  log(`database ${database}: primary keys, VACUUM (FREEZE, ANALYZE)`);
  await withClient(connection, database, async (c) => {
    for (const table of ['bench_orders', 'bench_events', 'bench_attachments']) {
      const { rows } = await c.query(
        `SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`,
        [table],
      );
      if (rows.length === 0) await c.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
    }
    await c.query('VACUUM (FREEZE, ANALYZE)');
    await c.query(`COMMENT ON DATABASE ${c.escapeIdentifier(database)} IS '${COMPLETE_MARK}'`);
  });
  state = await databaseSize(connection, database);
  log(
    `database ${database}: ready, ${(state.size / 2 ** 30).toFixed(2)} GiB in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return state.size;
}
