import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup } from '../../src/client/index.js';
import { parseManifest } from '../../src/core/manifest.js';
import { expectCompleteBackup } from '../helpers/backups.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { startPasswordCluster, type PasswordCluster } from '../helpers/password-cluster.js';
import { tableFingerprints, withClient, type Server } from '../helpers/postgres.js';
import { processesMatching } from '../helpers/processes.js';
import { uniqueName } from '../helpers/services.js';
import { startedActivities, startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { until } from '../helpers/worker-process.js';

// Fault 4 of the fault-injection suite: PostgreSQL restarted (pg_ctl restart -m fast) while pg_dump
// reads the database. The cluster is a private one, so the other test files keep the shared one.

const MIB = 1024 * 1024;

const database = uniqueName('fp_src');
const target = uniqueName('fp_dst');
let cluster: PasswordCluster;
let server: Server;
let keyring: TestKeyring;
let testWorker: TestWorker;

beforeAll(async () => {
  cluster = await startPasswordCluster();
  server = { port: cluster.port, password: cluster.password };
  await withClient('postgres', (c) => c.query(`CREATE DATABASE ${database}`), server);
  // About 50 MB that does not compress, dumped without compression: pg_dump reads for seconds.
  await withClient(
    database,
    (c) =>
      c.query(`CREATE TABLE blobs AS SELECT g AS id, decode(string_agg(md5(g::text || ':' || i), ''), 'hex') AS data
                 FROM generate_series(1, 12000) g, generate_series(1, 256) i GROUP BY g;
               ALTER TABLE blobs ADD PRIMARY KEY (id);
               CREATE TABLE notes (id serial PRIMARY KEY, body text);
               INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 500) g;`),
    server,
  );
  keyring = await createKeyring();
  testWorker = await startTestWorker('fp', {
    DB_HOST: '127.0.0.1',
    DB_PORT: String(cluster.port),
    DB_USER: cluster.user,
    DB_PASSWORD: cluster.password,
    DB_NAME: database,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    PG_DUMP_COMPRESSION: '0',
  });
}, 120_000);

afterAll(async () => {
  await testWorker?.stop();
  await cluster?.stop();
});

/** The pg_dump of this file's database, if one runs. */
function pgDumpRunning(): boolean {
  return processesMatching('pg_dump').some(
    (p) => p.cmdline.includes('--snapshot') && p.environ.includes(`PGPORT=${cluster.port}\0`),
  );
}

/** Bytes of the encrypted file being written (the .partial), or 0 when there is none. */
function partialBytes(dir: string): number {
  const partial = readdirSync(dir).find((file) => file.endsWith('.partial'));
  return partial === undefined ? 0 : statSync(join(dir, partial)).size;
}

describe('PostgreSQL restarted during the dump', () => {
  it('the dump step is retried and the backup is the whole database, verified and restorable', async () => {
    const { client, config } = testWorker;
    const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
    await until(
      'pg_dump half-way',
      () => (pgDumpRunning() && partialBytes(config.backup.dir) > 8 * MIB ? true : undefined),
      60_000,
      10,
    );
    await cluster.restart();

    const backup = await waitForBackup(handle);
    // The first dump failed with the server's restart, and the second, whole, is the backup.
    const dumpStep = (await startedActivities(handle)).find((a) => a.activity === 'dumpVerifyEncrypt');
    expect(dumpStep?.attempt).toBe(2);
    expect(dumpStep?.lastFailure).toMatch(/pg_dump|terminat|connection/i);
    await expectCompleteBackup(config, backup);

    // Every row is in it: the manifest's counts, and the contents once restored.
    const manifest = parseManifest(
      readFileSync(join(config.backup.dir, backup.manifestKey), 'utf8'),
      backup.manifestKey,
    );
    expect(Object.fromEntries(manifest.tables.map((t) => [t.table, t.rows]))).toEqual({
      blobs: 12000,
      notes: 500,
    });
    const archive = join(tempDir('fault-check'), 'archive.dump');
    await keyring.decrypt(backup.localPath, archive);
    await withClient('postgres', (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(target)}`), server);
    await execa('pg_restore', ['--exit-on-error', '--dbname', target, archive], {
      env: {
        PGHOST: '127.0.0.1',
        PGPORT: String(cluster.port),
        PGUSER: cluster.user,
        PGPASSWORD: cluster.password,
      },
    });
    expect(await tableFingerprints(target, server)).toEqual(await tableFingerprints(database, server));
  }, 120_000);
});
