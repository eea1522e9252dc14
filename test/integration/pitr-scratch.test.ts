import { existsSync, readdirSync } from 'node:fs';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmasterPid } from '../../src/pitr/scratch-leftovers.js';
import { recoverScratch, scratchRoot, sweepScratch, type Scratch } from '../../src/pitr/scratch.js';
import { archiveNow, backedUpCluster, serverNow, type BackedUpCluster } from '../helpers/pitr-data.js';
import { startPrivateS3 } from '../helpers/private-services.js';
import { processesMatching, alive } from '../helpers/processes.js';
import { REPO_ROOT } from '../helpers/services.js';
import { until } from '../helpers/worker-process.js';

// Issue #21: the scratch primitive. pgbackrest restore --type=time into a folder of its own, a
// temporary server on a private socket, recovered to the moment and promoted, then removed; what a
// killed worker left is removed by the next run.

let setup: BackedUpCluster;
let beforeT: number;
let target: string;

beforeAll(async () => {
  setup = await backedUpCluster();
  const { cluster } = setup;
  await cluster.psql('CREATE TABLE t (id int primary key, at timestamptz default clock_timestamp())');
  await cluster.psql('INSERT INTO t (id) SELECT generate_series(1, 5)');
  await new Promise((r) => setTimeout(r, 1_100));
  target = await serverNow(cluster);
  beforeT = 5;
  await new Promise((r) => setTimeout(r, 1_100));
  await cluster.psql('INSERT INTO t (id) SELECT generate_series(6, 9)');
  await archiveNow(cluster);
}, 180_000);

afterAll(async () => {
  await setup?.cluster.remove();
});

async function count(scratch: Scratch, sql: string): Promise<string> {
  const client = new pg.Client({
    host: scratch.socketDir,
    port: scratch.port,
    user: scratch.user,
    database: 'postgres',
  });
  await client.connect();
  try {
    const result = await client.query(sql);
    const last = Array.isArray(result) ? (result.at(-1) as pg.QueryResult) : result;
    return String(Object.values(last.rows[0] as object)[0]);
  } finally {
    await client.end();
  }
}

describe('the scratch primitive', () => {
  it('recovers to a moment, promoted and writable, with archiving off; then leaves nothing', async () => {
    const { br, config } = setup;
    const steps: string[] = [];
    const scratch = await recoverScratch({
      br,
      configDir: config.pitr!.configDir,
      owner: { workflowId: 'test-scratch' },
      target,
      progress: (s) => steps.push(s.step),
    });
    try {
      expect(await count(scratch, 'SELECT count(*) FROM t')).toBe(String(beforeT));
      expect(await count(scratch, 'SELECT pg_is_in_recovery()')).toBe('false');
      expect(await count(scratch, "SELECT current_setting('archive_mode')")).toBe('off');
      expect(await count(scratch, "SELECT current_setting('listen_addresses')")).toBe('');
      expect(
        await count(
          scratch,
          'CREATE TABLE written_in_scratch AS SELECT 1 AS x; SELECT count(*) FROM written_in_scratch',
        ),
      ).toBe('1');
      expect(new Date(scratch.recoveredTo!).getTime()).toBeLessThanOrEqual(new Date(target).getTime());
      expect(steps).toContain('restoring');
      expect(steps.at(-1)).toBe('promoted');
    } finally {
      await scratch.remove();
    }
    expect(existsSync(scratch.dir)).toBe(false);
    expect(alive(postmasterPid(scratch.dataDir))).toBe(false);
    // The newest: without a moment, to the end of the archive.
    const latest = await recoverScratch({
      br,
      configDir: config.pitr!.configDir,
      owner: { workflowId: 'test-latest' },
    });
    try {
      expect(await count(latest, 'SELECT count(*) FROM t')).toBe('9');
    } finally {
      await latest.remove();
    }
  });

  it('a moment past the archive: one clear error, and the scratch folder is gone', async () => {
    const { br, config } = setup;
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await expect(
      recoverScratch({
        br,
        configDir: config.pitr!.configDir,
        owner: { workflowId: 'test-future' },
        target: future,
      }),
    ).rejects.toThrow(
      /the scratch server ended during recovery: recovery ended before configured recovery target/,
    );
    expect(readdirSync(scratchRoot(config.pitr!.configDir, br.stanza))).toEqual([]);
  });

  it('a worker killed during recovery: the next run stops its server and removes its folder', async () => {
    const { br, config } = setup;
    const root = scratchRoot(config.pitr!.configDir, br.stanza);
    const script = `
      const { recoverScratch } = await import(${JSON.stringify(`${REPO_ROOT}dist/src/pitr/scratch.js`)});
      const [br, configDir, target] = JSON.parse(process.argv[1]);
      await recoverScratch({ br, configDir, target, owner: { workflowId: 'killed-worker' },
        extraSettings: { recovery_min_apply_delay: '1h' } });`;
    const child = execa(
      process.execPath,
      ['--input-type=module', '-e', script, JSON.stringify([br, config.pitr!.configDir, target])],
      {
        reject: false,
        stdio: 'ignore',
      },
    );
    // Recovery is held (recovery_min_apply_delay): the server runs, in recovery, when the worker dies.
    const dataDir = await until('the scratch server', () => {
      const dir = readdirSync(root).find((n) => existsSync(`${root}/${n}/data/postmaster.pid`));
      return dir ? `${root}/${dir}/data` : undefined;
    });
    await until('recovery under way', () => (existsSync(`${dataDir}/../server.log`) ? true : undefined));
    child.kill('SIGKILL');
    await child;
    const postmaster = postmasterPid(dataDir);
    expect(alive(postmaster)).toBe(true);

    const swept = await sweepScratch(br, config.pitr!.configDir);
    expect(swept.map((s) => s.workflowId)).toEqual(['killed-worker']);
    expect(readdirSync(root)).toEqual([]);
    await until('the postmaster gone', () => (alive(postmaster) ? undefined : true), 10_000);
  });
});

describe('the scratch primitive, the repository in SeaweedFS over HTTPS with the cipher on', () => {
  it('recovers from the bucket; no passphrase or key in an argument list or an environment', async () => {
    const s3 = await startPrivateS3();
    const cipher = 'pitr-scratch-cipher-passphrase-9a7c1e';
    const other = await backedUpCluster(
      {
        ...s3.env,
        S3_FORCE_PATH_STYLE: 'true',
        PITR_S3_ENDPOINT: s3.env.S3_HTTPS_ENDPOINT!,
        PITR_S3_VERIFY_TLS: 'false',
        PITR_CIPHER_PASS: cipher,
      },
      { s3: true },
    );
    const seen = new Map<number, { cmdline: string; environ: string }>();
    const watcher = setInterval(() => {
      for (const p of processesMatching('pgbackrest')) seen.set(p.pid, p);
      for (const p of processesMatching('postgres')) seen.set(p.pid, p);
    }, 20);
    try {
      await other.cluster.psql('CREATE TABLE t AS SELECT generate_series(1, 3) AS id');
      await archiveNow(other.cluster);
      const scratch = await recoverScratch({
        br: other.br,
        configDir: other.config.pitr!.configDir,
        owner: { workflowId: 'test-s3' },
      });
      try {
        expect(await count(scratch, 'SELECT count(*) FROM t')).toBe('3');
      } finally {
        await scratch.remove();
      }
    } finally {
      clearInterval(watcher);
      await other.cluster.remove();
      await s3.remove();
    }
    expect([...seen.values()].some((p) => / restore /.test(p.cmdline))).toBe(true);
    for (const p of seen.values()) {
      for (const secret of [cipher, s3.env.S3_SECRET_KEY!]) {
        expect(p.cmdline).not.toContain(secret);
        expect(p.environ).not.toContain(secret);
      }
    }
  }, 240_000);
});
