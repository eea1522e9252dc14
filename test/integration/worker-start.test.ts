import { createServer, type Server } from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, backupctl, expectOneLineError, programBaseEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { freePort } from '../helpers/ports.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { until } from '../helpers/worker-process.js';

// Issue #19: what an operator sees of `backupctl worker` — one log line per event (JSON by default,
// LOG_FORMAT=pretty for a person), the SDK's lines included and no secret in them; and a start that
// fails names the variable to fix, with a hint, instead of the SDK's own words.

const PASSWORD = 'worker-log-password-7c2e';

function envFor(overrides: Record<string, string> = {}): Record<string, string> {
  return testEnv({
    // A database that does not exist: the dump fails, and the SDK logs the failed activity.
    DB_NAME: uniqueName('absent'),
    DB_PASSWORD: PASSWORD,
    BACKUP_DIR: tempDir('worker-log'),
    BACKUP_RETRY_ATTEMPTS: '1',
    TEMPORAL_TASK_QUEUE: uniqueName('worker-log'),
    ...overrides,
  });
}

/** A worker process that runs one failing backup, then stops: everything it wrote on stderr. */
async function workerLogOfAFailedBackup(env: Record<string, string>): Promise<string> {
  const worker = execa(process.execPath, [CLI, 'worker'], {
    env: { ...programBaseEnv(), ...env },
    extendEnv: false,
    reject: false,
  });
  let stderr = '';
  worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until('the worker to poll', () => (stderr.includes('worker polling') ? true : undefined));
  const backup = await backupctl(['backup', '--wait'], env);
  expect(backup.exitCode, backup.stderr).toBe(4);
  worker.kill('SIGTERM');
  await worker;
  return stderr;
}

describe('the worker log', () => {
  it('is one JSON object per line, the SDK’s failed activity with its error and stack included, no secret', async () => {
    const log = await workerLogOfAFailedBackup(envFor());
    const lines = log.trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const event of events) expect(Object.keys(event).slice(0, 3)).toEqual(['time', 'level', 'message']);
    expect(events.map((e) => e.message)).toContain('Activity failed');
    const failed = events.find((e) => e.message === 'Workflow failed') as {
      error: { cause: { stack: string } };
    };
    expect(failed.error.cause).toMatchObject({ message: expect.stringMatching(/database does not exist/) });
    expect(failed.error.cause.stack).toMatch(/\n\s+at /);
    expect(events.find((e) => String(e.message).startsWith('worker polling'))).toMatchObject({
      level: 'INFO',
    });
    expect(log).not.toContain(PASSWORD);
  });

  it('is one line per event for a person with LOG_FORMAT=pretty', async () => {
    const log = await workerLogOfAFailedBackup(envFor({ LOG_FORMAT: 'pretty' }));
    for (const line of log.trimEnd().split('\n'))
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR) \S/);
    expect(log).toMatch(/ WARN {2}Activity failed .*activityType=dumpVerifyEncrypt/);
    expect(log).toMatch(/ WARN {2}Workflow failed .*error="\w+: .*database does not exist/);
    expect(log).not.toMatch(/^\s+at /m);
    expect(log).not.toContain(PASSWORD);
  });

  it('refuses an unknown LOG_FORMAT: exit 3, naming the variable', async () => {
    const run = await backupctl(['worker'], envFor({ LOG_FORMAT: 'xml' }));
    expectOneLineError(run, 3, /^error: LOG_FORMAT: expected json or pretty$/);
  });
});

describe('a worker that cannot start', () => {
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '0.0.0.0', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

  it('names TEMPORAL_ADDRESS when Temporal cannot be reached, in one line and a hint', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    for (const command of [['worker'], ['backup']]) {
      const run = await backupctl(command, envFor({ TEMPORAL_ADDRESS: address }));
      expectOneLineError(run, 1, new RegExp(`^error: cannot reach Temporal at ${address}: `));
      expect(run.stderr).toContain('hint: start it with scripts/services.sh up, or fix TEMPORAL_ADDRESS');
      expect(run.stderr).not.toMatch(/tonic|ConnectError/);
    }
    const worker = await backupctl(['worker'], envFor({ TEMPORAL_ADDRESS: address }));
    expect(worker.stderr).toMatch(/: connection refused\n/);
  });

  it('names TEMPORAL_METRICS_PORT when its port is in use: exit 3, with a hint', async () => {
    const run = await backupctl(['worker'], envFor({ TEMPORAL_METRICS_PORT: String(busyPort) }));
    expectOneLineError(
      run,
      3,
      new RegExp(`^error: TEMPORAL_METRICS_PORT: port ${busyPort} is in use; choose another, or 0 to`),
    );
    expect(run.stderr).toMatch(/^hint: another program listens on it/m);
  });
});
