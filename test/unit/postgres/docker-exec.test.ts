import type { Result } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { toolCommandLine } from '../../../src/core/command.js';
import { BackupError, exitCodeOf } from '../../../src/core/errors.js';
import { connect, databaseError } from '../../../src/postgres/connection.js';
import { RelayError } from '../../../src/postgres/relay.js';
import { toolError } from '../../../src/postgres/tools.js';

describe('toolCommandLine', () => {
  it('runs the tool itself when no container is configured', () => {
    expect(toolCommandLine('pg_dump', ['--format=custom'], ['PGHOST', 'PGPASSWORD'], {})).toEqual({
      file: 'pg_dump',
      args: ['--format=custom'],
    });
  });

  it('runs it through docker exec -i in the container, passing variables by name only', () => {
    const line = toolCommandLine('pg_restore', ['--list'], ['PGHOST', 'PGPASSWORD'], {
      dockerContainer: 'goimg-postgres',
    });
    expect(line).toEqual({
      file: 'docker',
      args: ['exec', '-i', '-e', 'PGHOST', '-e', 'PGPASSWORD', 'goimg-postgres', 'pg_restore', '--list'],
    });
  });

  it('refuses NAME=value, which would put the value in argv', () => {
    expect(() =>
      toolCommandLine('pg_dump', [], ['PGPASSWORD=secret-value'], { dockerContainer: 'db' }),
    ).toThrow(/^not a variable name: PGPASSWORD$/);
  });
});

describe('USE_DOCKER configuration', () => {
  const load = (env: Record<string, string>) => loadConfig({ env: { DB_NAME: 'app', ...env } });
  const failure = (env: Record<string, string>) => {
    try {
      load(env);
    } catch (error) {
      expect((error as BackupError).kind).toBe('Configuration');
      return (error as BackupError).message;
    }
    throw new Error('expected a configuration error');
  };

  it('is off by default, and DOCKER_CONTAINER alone does not turn it on', () => {
    expect(load({}).database.dockerContainer).toBeUndefined();
    expect(load({ DOCKER_CONTAINER: 'db' }).database.dockerContainer).toBeUndefined();
  });

  it('takes the container when USE_DOCKER is true', () => {
    expect(load({ USE_DOCKER: 'true', DOCKER_CONTAINER: 'goimg-postgres' }).database.dockerContainer).toBe(
      'goimg-postgres',
    );
  });

  it('needs DOCKER_CONTAINER, named as Docker names containers', () => {
    expect(failure({ USE_DOCKER: 'true' })).toBe('DOCKER_CONTAINER: is required when USE_DOCKER is true');
    expect(failure({ USE_DOCKER: 'true', DOCKER_CONTAINER: '-rm' })).toMatch(
      /^DOCKER_CONTAINER: not a container name/,
    );
    expect(failure({ USE_DOCKER: 'true', DOCKER_CONTAINER: 'a b' })).toMatch(
      /^DOCKER_CONTAINER: not a container name/,
    );
    expect(failure({ USE_DOCKER: 'maybe', DOCKER_CONTAINER: 'db' })).toBe(
      'USE_DOCKER: expected true or false',
    );
  });
});

describe('errors of docker exec', () => {
  const db = {
    host: 'localhost',
    port: 5432,
    name: 'app',
    user: 'postgres',
    sslMode: 'prefer' as const,
    dockerContainer: 'goimg-postgres',
  };
  const failed = (fields: Partial<Result> & { code?: string }) =>
    ({ failed: true, exitCode: 1, stderr: '', ...fields }) as unknown as Result;

  it('a missing docker is a missing dependency (exit code 2)', () => {
    const error = toolError('pg_dump', failed({ code: 'ENOENT', exitCode: undefined }), 'DumpFailed', db);
    expect(error.kind).toBe('MissingDependency');
    expect(exitCodeOf(error.kind)).toBe(2);
    expect(error.message).toBe('docker is not installed or not on PATH (USE_DOCKER=true)');
  });

  it('names a container that is not running, and lets the run retry', () => {
    const error = toolError(
      'pg_dump',
      failed({ stderr: 'Error response from daemon: container 3f2a9c is not running\n' }),
      'DumpFailed',
      db,
    );
    expect(error.message).toBe('container "goimg-postgres" is not running');
    expect(error.retryable).toBe(true);
    expect(error.hint).toContain('docker start goimg-postgres');
  });

  it('names a container that does not exist, and does not retry', () => {
    const error = toolError(
      'pg_restore --list',
      failed({ stderr: 'Error response from daemon: No such container: goimg-postgres\n' }),
      'RestoreFailed',
      undefined,
      'goimg-postgres',
    );
    expect(error.message).toBe('container "goimg-postgres" does not exist (DOCKER_CONTAINER)');
    expect(error.retryable).toBe(false);
  });

  it('a tool missing in the container is a missing dependency', () => {
    const stderr =
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "pg_dump": executable file not found in $PATH: unknown';
    const error = toolError('pg_dump', failed({ stderr, exitCode: 127 }), 'DumpFailed', db);
    expect(error).toBeInstanceOf(BackupError);
    expect(error.kind).toBe('MissingDependency');
    expect(error.message).toBe('pg_dump is not installed in container "goimg-postgres"');
  });

  it("leaves the tool's own errors to the usual reading", () => {
    const stderr =
      'pg_dump: error: connection to server failed: FATAL:  password authentication failed for user "x"';
    const error = toolError('pg_dump', failed({ stderr }), 'DumpFailed', db);
    expect(error.message).toBe(
      'pg_dump failed (database "app" at localhost:5432): password authentication failed',
    );
  });
});

describe("errors of the worker's connections through the relay", () => {
  const db = {
    host: 'db.internal',
    port: 5432,
    name: 'app',
    user: 'postgres',
    sslMode: 'prefer' as const,
    dockerContainer: 'goimg-postgres',
  };
  const relayFailure = (stderr: string, exitCode = 1) =>
    databaseError(
      new RelayError('goimg-postgres', { failed: true, exitCode, stderr } as unknown as Result),
      db,
      'DumpFailed',
    );

  it("reads bash's connection errors as the network errors they are, naming the container", () => {
    const refused = relayFailure(
      'durable-backup-relay: connect: Connection refused\ndurable-backup-relay: line 1: /dev/tcp/db.internal/5432: Connection refused',
    );
    expect(refused.message).toBe(
      'database "app" at db.internal:5432 from container "goimg-postgres" as postgres: connection refused',
    );
    expect(refused.retryable).toBe(true);
    const unknown = relayFailure('durable-backup-relay: line 1: db.internal: Name or service not known');
    expect(unknown.message).toMatch(/: host not found$/);
  });

  it('keeps what bash said when it is something else, and says so when it said nothing', () => {
    expect(
      relayFailure('durable-backup-relay: line 1: /dev/tcp/x/1: Network is unreachable').message,
    ).toMatch(/as postgres: \/dev\/tcp\/x\/1: Network is unreachable$/);
    expect(relayFailure('', 3).message).toMatch(
      /the relay in container "goimg-postgres" ended with exit code 3$/,
    );
  });

  it('refuses a socket directory for DB_HOST: the relay speaks TCP', async () => {
    const error = await connect({ ...db, host: '/var/run/postgresql' }, 'DumpFailed').catch(
      (e: unknown) => e,
    );
    expect((error as BackupError).kind).toBe('Configuration');
    expect((error as BackupError).message).toMatch(/^DB_HOST: \/var\/run\/postgresql is a socket directory/);
  });

  it('a container without bash (an Alpine image) is a missing dependency that says what to do', () => {
    const error = relayFailure(
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "bash": executable file not found in $PATH: unknown',
      126,
    );
    expect(error.kind).toBe('MissingDependency');
    expect(error.message).toBe('bash is not installed in container "goimg-postgres"');
    expect(error.hint).toContain('apk add bash');
  });
});
