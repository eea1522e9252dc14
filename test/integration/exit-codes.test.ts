import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { backupctl, expectOneLineError, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { startPasswordCluster, type PasswordCluster } from '../helpers/password-cluster.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

// Every exit code a user can cause, from the guide's table, through the real CLI, worker and services.

const database = uniqueName('exit');

function envFor(overrides: Record<string, string | undefined>): Record<string, string> {
  return testEnv({
    DB_NAME: database,
    BACKUP_DIR: tempDir('backups'),
    S3_PREFIX: `${uniqueName('exit')}/`,
    TEMPORAL_TASK_QUEUE: uniqueName('exit'),
    ...overrides,
  });
}

/** backupctl backup --wait with a worker of the same configuration running. */
async function backupWithWorker(env: Record<string, string>): Promise<CliRun> {
  return withWorker(loadConfig({ env }), () => backupctl(['backup', '--wait'], env));
}

describe('exit codes', () => {
  let cluster: PasswordCluster;

  beforeAll(async () => {
    await seedDatabase(database, 50);
    cluster = await startPasswordCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
    await dropDatabase(database);
  });

  it('0 on success', async () => {
    const run = await backupWithWorker(envFor({}));
    expect(run.exitCode, run.stderr).toBe(0);
  });

  it('3 on an unknown command or flag, with the usage hint', async () => {
    expect((await backupctl(['frobnicate'], envFor({}))).exitCode).toBe(3);
    const run = await backupctl(['backup', '--lable', 'x'], envFor({}));
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain("unknown option '--lable'");
  });

  it('2 when pg_dump is missing', async () => {
    const run = await backupctl(['worker'], envFor({}), '/nonexistent');
    expectOneLineError(run, 2, /pg_dump is not installed/);
  });

  it('3 on a configuration error, naming the variable', async () => {
    expectOneLineError(
      await backupctl(['backup'], envFor({ DB_PORT: 'abc' })),
      3,
      /^error: DB_PORT: expected a whole number$/,
    );
    expectOneLineError(
      await backupctl(['backup'], envFor({ DB_NAME: undefined })),
      3,
      /^error: DB_NAME: is required$/,
    );
  });

  it('3 on an env file with a syntax error, naming the line', async () => {
    const file = join(tempDir('env'), 'backup.env');
    writeFileSync(file, 'DB_NAME=app\nDB_HOST localhost\n');
    const run = await backupctl(['--env-file', file, 'backup'], envFor({}));
    expectOneLineError(run, 3, new RegExp(`^error: ${file} line 2: expected KEY=VALUE$`));
  });

  it('3 on a key file that is not an OpenPGP public key: the worker refuses to start', async () => {
    const run = await backupctl(['worker'], envFor({ GPG_PUBLIC_KEY_FILE: '/etc/hostname' }));
    expectOneLineError(run, 3, /GPG_PUBLIC_KEY_FILE: no armored OpenPGP public key found/);
  });

  it('4 when the database is unreachable', async () => {
    const run = await backupWithWorker(envFor({ DB_PORT: '1' }));
    expectOneLineError(run, 4, /connection refused/);
  });

  it('4 on a wrong password, without retrying and without showing it', async () => {
    const wrong = 'wrong-password-must-not-show';
    const run = await backupWithWorker(
      envFor({ DB_PORT: String(cluster.port), DB_NAME: 'postgres', DB_PASSWORD: wrong }),
    );
    expectOneLineError(run, 4, /password authentication failed/);
    expect(run.stderr + run.stdout).not.toContain(wrong);
  });

  it('5 when the key cannot encrypt, and no file is left behind', async () => {
    const signOnly = await createKeyring('sign');
    const env = envFor({ GPG_PUBLIC_KEY_FILE: signOnly.publicKeyFile });
    const run = await backupWithWorker(env);
    expectOneLineError(run, 5, /cannot encrypt/);
    expect(readdirSync(env.BACKUP_DIR!).filter((f) => f.includes('.dump'))).toEqual([]);
    expect(readdirSync(`${env.BACKUP_DIR}/.work`)).toEqual([]);
  });

  it('6 when the bucket does not exist, never creating it, saying the local copy is kept and where', async () => {
    const bucket = uniqueName('missing').replace('_', '-');
    const env = envFor({ S3_BUCKET: bucket });
    const run = await backupWithWorker(env);
    const kept = `the local copy is kept, complete: ${env.BACKUP_DIR}/${database}-backup-\\d{8}-\\d{6}\\.dump\\.zst$`;
    expectOneLineError(run, 6, new RegExp(`bucket ${bucket} does not exist \\(NoSuchBucket\\); ${kept}`));
    expect(run.stderr).toContain('hint: create the bucket, or fix S3_BUCKET');
    expect((await backupctl(['list'], env)).stderr).toMatch(/NoSuchBucket/);
  });

  it('6 when S3 is down, keeping the local copy as a complete backup', async () => {
    const env = envFor({ S3_ENDPOINT: 'http://127.0.0.1:1' });
    const run = await backupWithWorker(env);
    expectOneLineError(run, 6, /connection refused.*; the local copy is kept, complete: \//);
    const files = readdirSync(env.BACKUP_DIR!).filter((f) => !f.startsWith('.'));
    expect(files.sort()).toEqual([
      expect.stringMatching(/\.dump\.zst$/),
      expect.stringMatching(/\.manifest\.json$/),
      expect.stringMatching(/\.manifest\.json\.sig$/),
    ]);
    const localOnly = { ...env, S3_BUCKET: '', S3_ENDPOINT: '', S3_ACCESS_KEY: '', S3_SECRET_KEY: '' };
    expect(JSON.parse((await backupctl(['list', '--json'], localOnly)).stdout)).toHaveLength(1);
  });
});
