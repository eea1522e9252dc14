import pg from 'pg';

const ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

/** Another server than the machine's (a password cluster of test/helpers/password-cluster.ts). */
export interface Server {
  port: number;
  password?: string;
}

export async function withClient<T>(
  database: string,
  work: (client: pg.Client) => Promise<T>,
  server: Server = { port: ADMIN.port },
): Promise<T> {
  const client = new pg.Client({ ...ADMIN, ...server, database });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase(name: string): Promise<void> {
  await withClient('postgres', async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  });
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient('postgres', (c) =>
    c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`),
  );
}

/**
 * A database with several schemas, large values (TOASTed text and bytea), a sequence that has moved,
 * and a row count that differs per table, so that a restore that loses anything shows it.
 */
export async function seedDatabase(name: string, rows = 2_000): Promise<void> {
  await createDatabase(name);
  await withClient(name, async (c) => {
    await c.query(`
      CREATE SCHEMA billing;
      CREATE SCHEMA "odd schema";
      CREATE TABLE public.users (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, created timestamptz NOT NULL DEFAULT now());
      CREATE TABLE public.images (id bigserial PRIMARY KEY, user_id bigint REFERENCES public.users(id), data bytea, caption text);
      CREATE TABLE billing.invoices (id serial PRIMARY KEY, user_id bigint, amount numeric(12,2), meta jsonb);
      CREATE TABLE "odd schema"."Mixed Case" (k text PRIMARY KEY, v text);
      INSERT INTO public.users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, ${rows}) g;
      INSERT INTO public.images (user_id, data, caption)
        SELECT (g % ${rows}) + 1, decode(repeat(md5(g::text), 200), 'hex'), repeat('caption ' || g, 50) FROM generate_series(1, ${Math.floor(rows / 4)}) g;
      INSERT INTO billing.invoices (user_id, amount, meta)
        SELECT g, g * 1.25, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')) FROM generate_series(1, ${Math.floor(rows / 2)}) g;
      INSERT INTO "odd schema"."Mixed Case" VALUES ('quote''s', 'line
break'), ('unicode', 'zażółć ✓');
      SELECT setval('billing.invoices_id_seq', 5000);
    `);
  });
}

/** One fingerprint per table: the md5 of every row in a fixed order. Equal fingerprints, equal contents. */
export async function tableFingerprints(database: string, server?: Server): Promise<Record<string, string>> {
  return withClient(
    database,
    async (c) => {
      const tables = await c.query<{ s: string; t: string }>(
        `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`,
      );
      const result: Record<string, string> = {};
      for (const { s, t } of tables.rows) {
        const name = `${pg.escapeIdentifier(s)}.${pg.escapeIdentifier(t)}`;
        const { rows } = await c.query<{ n: string; h: string | null }>(
          `SELECT count(*) AS n, md5(string_agg(x::text, '|' ORDER BY x::text)) AS h FROM ${name} x`,
        );
        result[`${s}.${t}`] = `${rows[0]!.n}:${rows[0]!.h}`;
      }
      const sequences = await c.query<{ name: string; value: string }>(
        `SELECT schemaname || '.' || sequencename AS name, last_value::text AS value FROM pg_sequences ORDER BY 1`,
      );
      for (const { name, value } of sequences.rows) result[`sequence ${name}`] = value;
      return result;
    },
    server,
  );
}
