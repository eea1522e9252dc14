import { existsSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConfig } from '../../src/config/index.js';
import { connect } from '../../src/postgres/connection.js';
import { RELAY_NAME } from '../../src/postgres/relay.js';
import { failureOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/files.js';
import { processesMatching } from '../helpers/processes.js';
import { withClient } from '../helpers/postgres.js';
import { REPO_ROOT, uniqueName } from '../helpers/services.js';

// The worker's own connections with USE_DOCKER: pg.Client over a relay that `docker exec` runs in the
// container. test/fixtures/docker-exec/docker stands in for docker and knows db.internal, a name the
// container's network resolves and this machine does not.

const CONTAINER = uniqueName('relay');
const db: DatabaseConfig = {
  host: 'db.internal',
  port: 5432,
  name: 'postgres',
  user: 'postgres',
  dockerContainer: CONTAINER,
} as DatabaseConfig;

let bin: string;
let originalPath: string | undefined;

beforeAll(() => {
  bin = tempDir('docker-relay');
  symlinkSync(join(REPO_ROOT, 'test/fixtures/docker-exec/docker'), join(bin, 'docker'));
  writeFileSync(join(bin, 'container-hosts'), 'db.internal 127.0.0.1\n');
  originalPath = process.env.PATH;
  process.env.PATH = `${bin}:${originalPath}`;
});

afterAll(() => {
  process.env.PATH = originalPath;
});

/** The relay processes running now: bash, by its $0, and the copies it started. */
function relayProcesses(): number[] {
  return processesMatching(RELAY_NAME).flatMap(({ pid }) => [pid, ...childrenOf(pid)]);
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return []; // it ended meanwhile
  }
}

/** Waits, up to 3 s, for every process of pids to be gone; returns those still there. */
async function stillRunning(pids: number[]): Promise<number[]> {
  const alive = () => pids.filter((pid) => existsSync(`/proc/${pid}`));
  for (let tries = 0; alive().length > 0 && tries < 30; tries += 1)
    await new Promise((r) => setTimeout(r, 100));
  return alive();
}

const backendAlive = (pid: number) =>
  withClient('postgres', async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    return rowCount === 1;
  });

describe('the relay through docker exec', () => {
  it('the worker alone cannot reach db.internal', async () => {
    const failure = await failureOf(connect({ ...db, dockerContainer: undefined }, 'DumpFailed'));
    expect(failure.message).toMatch(/host not found|ENOTFOUND|EAI_AGAIN/);
  });

  it('carries queries, and client.end() leaves no relay process and no server connection behind', async () => {
    const client = await connect(db, 'DumpFailed');
    const { rows } = await client.query<{ answer: number; pid: number }>(
      'SELECT 6 * 7 AS answer, pg_backend_pid() AS pid',
    );
    expect(rows[0]!.answer).toBe(42);
    const relay = relayProcesses();
    expect(relay.length).toBeGreaterThanOrEqual(3); // bash and its two copies
    await client.end();
    expect(await stillRunning(relay)).toEqual([]);
    expect(await backendAlive(rows[0]!.pid)).toBe(false);

    const log = readFileSync(join(bin, 'docker.log'), 'utf8').trim().split('\n').at(-1)!;
    const argv = JSON.parse(log) as string[];
    expect(argv.slice(0, 2)).toEqual(['exec', '-i']);
    // The host as the container names it, the password nowhere (it travels inside the protocol).
    expect(argv.slice(-7)).toEqual([
      CONTAINER,
      'bash',
      '-c',
      expect.stringContaining('/dev/tcp/'),
      RELAY_NAME,
      'db.internal',
      '5432',
    ]);
  });

  it('ends when the server closes the connection', async () => {
    const client = await connect(db, 'DumpFailed');
    client.on('error', () => undefined);
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const relay = relayProcesses();
    await withClient('postgres', (c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
    expect(await stillRunning(relay)).toEqual([]);
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await client.end();
  });

  it('a closed port fails fast with a retryable error that names the container', async () => {
    const started = Date.now();
    const failure = await failureOf(connect({ ...db, port: 1 }, 'RestoreFailed'));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(failure.message).toBe(
      `database "postgres" at db.internal:1 from container "${CONTAINER}" as postgres: connection refused`,
    );
    expect(failure.kind).toBe('RestoreFailed');
    expect(failure.retryable).toBe(true);
    expect(relayProcesses()).toEqual([]);
  });

  it('a stopped container fails the connection, naming it', async () => {
    writeFileSync(join(bin, `${CONTAINER}.stopped`), '');
    try {
      const failure = await failureOf(connect(db, 'DumpFailed'));
      expect(failure.message).toBe(`container "${CONTAINER}" is not running`);
      expect(failure.retryable).toBe(true);
    } finally {
      rmSync(join(bin, `${CONTAINER}.stopped`));
    }
  });
});
