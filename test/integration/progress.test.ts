import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningSteps, startBackup, waitForBackup } from '../../src/client/index.js';
import { backupctl, type CliRun } from '../helpers/cli.js';
import { fencedBlocks } from '../helpers/docs.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { REPO_ROOT, servicesEnv, uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';
import { startThrottleProxy, type ThrottleProxy } from '../helpers/throttle-proxy.js';
import { until } from '../helpers/worker-process.js';

// Issue #19: `backup --wait` prints the lines docs/backup.md shows, and a long step shows its
// progress (from the heartbeat details) in a log. Run as a user would: the built CLI, stderr a pipe.

const database = uniqueName('progress');
const prefix = `${uniqueName('progress')}/`;
let worker: TestWorker;
/** In front of the bucket: at full speed, until a test slows the upload down. */
let throttle: ThrottleProxy;

beforeAll(async () => {
  await seedDatabase(database);
  const keyring = await createKeyring();
  throttle = await startThrottleProxy(new URL(servicesEnv().S3_ENDPOINT!), 1024 * 1024 * 1024);
  worker = await startTestWorker('progress', {
    DB_NAME: database,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    S3_ENDPOINT: throttle.url,
    S3_PREFIX: prefix,
  });
});

afterAll(async () => {
  await worker?.stop();
  await throttle?.close();
  await dropDatabase(database);
  await dropDatabase(`${database}_copy`);
});

/** The example of `backupctl backup --wait`'s output in docs/backup.md: its stderr lines, then its stdout's. */
function documentedOutput(): { stderr: string[]; stdout: string[] } {
  const markdown = readFileSync(join(REPO_ROOT, 'docs/backup.md'), 'utf8');
  const block = fencedBlocks(markdown).find((b) => b.lang === 'text' && b.code.startsWith('started backup-'));
  const lines = block!.code.split('\n');
  const result = lines.findIndex((l) => l.startsWith('backup complete:'));
  return { stderr: lines.slice(0, result), stdout: lines.slice(result) };
}

/**
 * A line with what differs from run to run made alike: this run's names and places become the
 * docs' (database app, /var/backups/postgres, s3://backups/postgres-backups/), then times, numbers,
 * SHA-256 digests, workflow id nonces and the kind (by the day of the week) become placeholders.
 */
function shape(line: string, names?: { database: string; dir: string; location: string }): string {
  let text = line;
  if (names) {
    text = text
      .replaceAll(names.location, 's3://backups/postgres-backups/')
      .replaceAll(names.dir, '/var/backups/postgres')
      .replaceAll(names.database, 'app');
  }
  return text
    .replace(/\b[0-9a-f]{64}\b/g, '<sha256>')
    .replace(/\b\d{8}-\d{6}(-[a-z0-9]{4})?\b/g, (_, nonce?: string) => `<time>${nonce ? '-<nonce>' : ''}`)
    .replace(/\b(daily|weekly|monthly)\b/g, '<kind>')
    .replace(/\d+(\.\d+)?/g, '<n>');
}

function linesOf(text: string): string[] {
  return text.trimEnd().split('\n');
}

describe('backupctl backup --wait, as the docs show it', () => {
  let run: CliRun;

  beforeAll(async () => {
    run = await backupctl(['backup', '--wait'], worker.env);
  });

  it('prints the lines of docs/backup.md: each step as it finished on stderr, the result on stdout', () => {
    expect(run.exitCode, run.stderr).toBe(0);
    const names = {
      database,
      dir: worker.config.backup.dir,
      location: `s3://${worker.config.s3!.bucket}/${prefix}`,
    };
    const documented = documentedOutput();
    expect(linesOf(run.stderr).map((l) => shape(l, names))).toEqual(documented.stderr.map((l) => shape(l)));
    expect(linesOf(run.stdout).map((l) => shape(l, names))).toEqual(documented.stdout.map((l) => shape(l)));
  });

  it('draws no progress in a log for a step that ends within 10 s: no carriage return, no escape', () => {
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).not.toContain('\x1b');
    expect(run.stderr).not.toContain('  ...  ');
  });

  it('with --json, prints only the result as JSON on stdout, and no step or progress line', async () => {
    const json = await backupctl(['backup', '--wait', '--json'], worker.env);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ database, encrypted: true });
    expect(json.stderr).not.toMatch(/done|\.\.\./);
  });
});

describe('a step longer than 10 s, in a log', () => {
  it('prints its progress every 10 s, in the format docs/backup.md shows', async () => {
    // The upload step sends the one part the dump could not: slowed to about 14 s.
    throttle.setBytesPerSecond(1024 * 1024 * 1024);
    const first = JSON.parse((await backupctl(['backup', '--wait', '--json'], worker.env)).stdout) as {
      fileBytes: number;
    };
    throttle.setBytesPerSecond(Math.max(1024, Math.floor(first.fileBytes / 14)));
    const run = await backupctl(['backup', '--wait'], worker.env);
    throttle.setBytesPerSecond(1024 * 1024 * 1024);
    expect(run.exitCode, run.stderr).toBe(0);

    const progress = linesOf(run.stderr).filter((l) => l.startsWith('  ...  '));
    expect(progress.length, run.stderr).toBeGreaterThanOrEqual(1);
    for (const line of progress) {
      expect(line).toMatch(
        /^ {2}\.\.\. {2}upload {3}\d+(\.\d)? (B|KiB|MiB) of \d+(\.\d)? (B|KiB|MiB) \(\d+ %\), .+\/s, 0:\d\d elapsed$/,
      );
    }
    // Between the upload's start and its end, in the order a person reads them.
    const stderr = linesOf(run.stderr);
    expect(stderr.indexOf(progress[0]!)).toBeGreaterThan(
      stderr.findIndex((l) => l.startsWith('  done encrypt')),
    );
    expect(stderr.indexOf(progress[0]!)).toBeLessThan(stderr.findIndex((l) => l.startsWith('  done upload')));

    // The docs' example of a log's progress lines has the same shape.
    const markdown = readFileSync(join(REPO_ROOT, 'docs/backup.md'), 'utf8');
    const documented = markdown.split('\n').filter((l) => l.startsWith('  ...  '));
    expect(documented.length).toBeGreaterThan(0);
    for (const line of documented) {
      expect(line).toMatch(
        /^ {2}\.\.\. {2}\w+ +\d+\.\d (KiB|MiB|GiB) (written \(database \d+\.\d (MiB|GiB)\)|of \d+\.\d (MiB|GiB) \(\d+ %\)), \d+\.\d (KiB|MiB)\/s, \d+:\d\d elapsed$/,
      );
    }
  });
});

describe('the heartbeat details of a running upload', () => {
  it('carry its progress for the UI and the client, beside the checkpoint a retry resumes from', async () => {
    throttle.setBytesPerSecond(1024 * 1024 * 1024);
    const handle = await startBackup(worker.client, {
      database,
      taskQueue: worker.config.temporal.taskQueue,
    });
    try {
      throttle.setBytesPerSecond(4 * 1024);
      const [upload] = await until('the upload step reporting', async () => {
        const steps = await runningSteps(handle);
        return steps.some((s) => s.phase === 'upload') ? steps : undefined;
      });
      expect(upload).toMatchObject({ phase: 'upload', bytes: 0, totalBytes: expect.any(Number) });
      expect(Date.parse(upload!.startedAt)).toBeLessThanOrEqual(Date.now());
      const { raw } = await handle.describe();
      const payload = raw.pendingActivities![0]!.heartbeatDetails!.payloads![0]!;
      expect(defaultPayloadConverter.fromPayload(payload)).toMatchObject({
        key: expect.any(String),
        uploadId: expect.any(String),
        partSize: expect.any(Number),
        size: upload!.totalBytes,
        parts: [],
        phase: 'upload',
      });
    } finally {
      throttle.setBytesPerSecond(1024 * 1024 * 1024);
    }
    await waitForBackup(handle);
  });
});

describe('backupctl restore --wait, in a log', () => {
  it('prints the phases that ended, and the result with every phase on stdout, with no redrawn line', async () => {
    const run = await backupctl(
      ['restore', '--latest', '--target-db', `${database}_copy`, '--create-db', '--force', '--wait'],
      worker.env,
    );
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).not.toContain('\x1b');
    // The phases that ended while it was followed on stderr; all of them in the result on stdout.
    const done = (text: string) => linesOf(text).filter((l) => l.startsWith('  done '));
    expect(done(run.stdout).map((l) => l.split(/\s+/)[2])).toEqual([
      'resolve',
      'thaw',
      'fetch',
      'check',
      'decrypt',
      'validate',
      'plan',
      'prepare',
      'restore',
      'verify',
    ]);
    expect(done(run.stdout).slice(0, done(run.stderr).length)).toEqual(done(run.stderr));
    expect(run.stdout).toMatch(/^restore complete\n/);
  });
});
