import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup, type BackupResult } from '../../src/client/index.js';
import { backupctl } from '../helpers/cli.js';
import { failureOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { startPasswordCluster, type PasswordCluster } from '../helpers/password-cluster.js';
import { dropDatabase, seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { RELAY_NAME } from '../../src/postgres/relay.js';
import { REPO_ROOT, uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// USE_DOCKER: every PostgreSQL tool runs through `docker exec CONTAINER`, and so does every connection
// of the worker's own (through a relay). No Docker engine runs here: test/fixtures/docker-exec/docker
// stands in, running `docker exec` locally with only the variables named by -e, and logging every
// argv. DB_HOST is db.internal, a name only the stand-in's "container" resolves: a connection that did
// not go through docker exec would fail with "host not found". The restores go into a
// password-protected cluster, so a password that did not reach pg_restore through `-e PGPASSWORD`, or
// the worker's checks through the relay, would fail them.

const CONTAINER = 'goimg-postgres';
const DB_HOST = 'db.internal';
const source = uniqueName('dx_src');
const PASSPHRASE = 'key-passphrase-never-shown-5d1e';

let bin: string;
let originalPath: string | undefined;
let keyring: TestKeyring;
let cluster: PasswordCluster;
let testWorker: TestWorker | undefined;
let backup: BackupResult;

/** The argv of every docker invocation so far. */
const dockerCalls = (): string[][] =>
  existsSync(join(bin, 'docker.log'))
    ? readFileSync(join(bin, 'docker.log'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as string[])
    : [];

/** The tool each `docker exec` ran (after -i and the -e NAMEs, the container, then the tool). */
const execsOf = (calls: string[][], tool: string) =>
  calls.filter((argv) => argv[0] === 'exec' && argv[argv.indexOf(CONTAINER) + 1] === tool);

/** The relays the worker's own connections went through, as `HOST PORT` after the relay's name. */
const relaysOf = (calls: string[][]) =>
  execsOf(calls, 'bash')
    .filter((argv) => argv.includes(RELAY_NAME))
    .map((argv) => argv.slice(argv.indexOf(RELAY_NAME) + 1).join(' '));

beforeAll(async () => {
  bin = tempDir('docker-bin');
  symlinkSync(join(REPO_ROOT, 'test/fixtures/docker-exec/docker'), join(bin, 'docker'));
  writeFileSync(join(bin, 'container-hosts'), `${DB_HOST} 127.0.0.1\n`);
  // The worker runs in this process: its tools find the stand-in first on PATH.
  originalPath = process.env.PATH;
  process.env.PATH = `${bin}:${originalPath}`;
  await seedDatabase(source);
  keyring = await createKeyring('default', PASSPHRASE);
  cluster = await startPasswordCluster();
  testWorker = await startTestWorker('dx', {
    DB_NAME: source,
    DB_HOST,
    // The machine's server trusts local connections and ignores it; the cluster the restores go to needs it.
    DB_PASSWORD: cluster.password,
    USE_DOCKER: 'true',
    DOCKER_CONTAINER: CONTAINER,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    GPG_PASSPHRASE: PASSPHRASE,
    RESTORE_JOBS: '4',
    // The restores go to the password cluster's port on DB_HOST: a server the worker must be told of.
    RESTORE_TARGET_HOSTS: `${DB_HOST}:${cluster.port}`,
  });
  const { client, config } = testWorker;
  backup = await waitForBackup(
    await startBackup(client, { database: source, taskQueue: config.temporal.taskQueue }),
  );
});

afterAll(async () => {
  await testWorker?.stop();
  await cluster?.stop();
  await dropDatabase(source);
  process.env.PATH = originalPath;
});

describe('USE_DOCKER=true', () => {
  it('dumps and verifies through docker exec in the container, the password never in argv', () => {
    const calls = dockerCalls();
    const [dump] = execsOf(calls, 'pg_dump').filter((argv) => argv.includes('--format=custom'));
    expect(dump).toBeDefined();
    expect(dump!.slice(0, 2)).toEqual(['exec', '-i']);
    expect(dump).toEqual(expect.arrayContaining(['-e', 'PGPASSWORD']));
    expect(execsOf(calls, 'pg_restore').some((argv) => argv.at(-1) === '--list')).toBe(true);
    // The snapshot and the row counts: the worker's connection went through the container too.
    expect(relaysOf(calls)).toContain(`${DB_HOST} 5432`);
    expect(backup.key).toMatch(/\.dump\.zst\.gpg$/); // zstd runs beside the worker, pg_dump in the container
    expect(backup.tables).toBeGreaterThan(0);
    for (const argv of calls) {
      expect(argv.join(' ')).not.toContain(cluster.password);
      expect(argv.join(' ')).not.toContain('PGPASSWORD=');
    }
  });

  it('restores through docker exec with the archive on stdin (--jobs=1): the tables match', async () => {
    const before = dockerCalls().length;
    const run = await backupctl(
      [
        'restore',
        '--s3-key',
        backup.key,
        '--target-port',
        String(cluster.port),
        '--target-db',
        'copy',
        '--create-db',
        '--force',
        '--wait',
      ],
      testWorker!.env,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    const server = { port: cluster.port, password: cluster.password };
    expect(await tableFingerprints('copy', server)).toEqual(await tableFingerprints(source));

    const calls = dockerCalls().slice(before);
    const restores = execsOf(calls, 'pg_restore').filter((argv) => argv.includes('--clean'));
    expect(restores).toHaveLength(1);
    expect(restores[0]).toContain('--jobs=1');
    // No archive path: the container cannot see the worker's files; it came on stdin.
    expect(restores[0]!.at(-1)).toBe('--exit-on-error');
    // The target's checks, its creation and its row counts, through the relay to the cluster.
    expect(relaysOf(calls)).toContain(`${DB_HOST} ${cluster.port}`);
    for (const argv of calls) expect(argv.join(' ')).not.toContain(cluster.password);
  });

  it('a --table restore reads its list from a copy in the container, removed afterwards', async () => {
    const server = { port: cluster.port, password: cluster.password };
    // The copy of the full restore, with one table emptied that this restore must bring back.
    await withClient('copy', (c) => c.query('DELETE FROM billing.invoices'), server);
    const before = dockerCalls().length;
    const run = await backupctl(
      [
        'restore',
        '--s3-key',
        backup.key,
        '--target-port',
        String(cluster.port),
        '--target-db',
        'copy',
        '--table',
        'invoices',
        '--force',
        '--wait',
      ],
      testWorker!.env,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(await tableFingerprints('copy', server)).toEqual(await tableFingerprints(source));

    const calls = dockerCalls().slice(before);
    const copy = execsOf(calls, 'sh')[0]!.at(-1)!;
    expect(copy).toMatch(/^\/tmp\/durable-backup-[0-9a-f-]+\.list$/);
    const restore = execsOf(calls, 'pg_restore').find((argv) => argv.includes('--clean'))!;
    expect(restore).toContain(`--use-list=${copy}`);
    expect(execsOf(calls, 'rm').map((argv) => argv.at(-1))).toContain(copy);
    expect(existsSync(copy)).toBe(false);
  });

  it('a stopped container fails the backup with an error that names it', async () => {
    writeFileSync(join(bin, `${CONTAINER}.stopped`), '');
    const { client, config } = testWorker!;
    const handle = await startBackup(client, { database: source, taskQueue: config.temporal.taskQueue });
    const failure = await failureOf(waitForBackup(handle));
    expect(failure.message).toContain(`container "${CONTAINER}" is not running`);
  });

  it('a worker without docker exits with code 2', async () => {
    const run = await backupctl(['worker'], testWorker!.env, '/nonexistent');
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.stderr).toContain('docker is not installed or not on PATH');
  });
});
