import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackup, waitForBackup } from '../../src/client/index.js';
import { CLI, backupctl, programBaseEnv } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { freePort } from '../helpers/ports.js';
import { dropDatabase, seedDatabase } from '../helpers/postgres.js';
import { servicesEnv, testConfig, testEnv, uniqueName } from '../helpers/services.js';
import { withWorker } from '../helpers/temporal.js';

const DB_PASSWORD = 'db-pass-metrics-never-shown-5d1c';
const WEBHOOK_TOKEN = 'T000/B000/webhook-token-never-shown-8e2a';

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** One sample of the Prometheus text format: the series with exactly these labels. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (JSON.stringify(Object.entries(found).sort()) === JSON.stringify(Object.entries(labels).sort()))
      return Number(match[3]);
  }
  return undefined;
}

/** Stands in for Slack: records each POST's body, and answers 500 so a failing webhook is tried too. */
async function startReceiver(): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString());
      response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/services/${WEBHOOK_TOKEN}`, bodies, server };
}

describe('metrics, textfile and failure webhook on the real services', () => {
  const database = uniqueName('metrics_src');
  const secrets = [DB_PASSWORD, WEBHOOK_TOKEN, servicesEnv().S3_ACCESS_KEY!, servicesEnv().S3_SECRET_KEY!];
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let overrides: Record<string, string>;

  const expectNoSecret = (text: string) => {
    for (const secret of secrets) expect(text).not.toContain(secret);
  };

  beforeAll(async () => {
    await seedDatabase(database, 500);
    receiver = await startReceiver();
    overrides = {
      DB_NAME: database,
      DB_PASSWORD,
      BACKUP_DIR: tempDir('metrics'),
      S3_PREFIX: `${uniqueName('metrics')}/`,
      TEMPORAL_TASK_QUEUE: uniqueName('metrics'),
      NOTIFY_WEBHOOK_URL: receiver.url,
    };
  });

  afterAll(async () => {
    await dropDatabase(database);
    receiver.server.close();
  });

  it('serves the gauges and run metrics before, during and after a real backup', async () => {
    const port = await freePort();
    const config = testConfig({ ...overrides, METRICS_PORT: String(port) });
    await withWorker(config, async (client) => {
      const before = await scrape(port);
      expect(sample(before, 'postgres_backup_count', { database })).toBe(0);
      expect(sample(before, 'postgres_backup_last_success_timestamp', { database })).toBe(0);
      expect(sample(before, 'postgres_backup_size_bytes', { database })).toBeUndefined();
      expect(sample(before, 'postgres_backup_drill_rto_target_seconds', { database })).toBe(1800);
      expect(sample(before, 'postgres_backup_drill_max_age_seconds', { database })).toBe(30 * 3600);
      expect(
        sample(before, 'postgres_backup_run_failures_total', {
          database,
          kind: 'backup',
          error_kind: 'DumpFailed',
        }),
      ).toBe(0);

      const startedAt = Date.now() / 1000;
      const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
      let finished = false;
      const running = waitForBackup(handle).finally(() => (finished = true));
      const during: string[] = [];
      while (!finished) {
        during.push(await scrape(port));
        await sleep(100);
      }
      const result = await running;
      const after = await scrape(port);

      // The backup in progress is never counted: only a complete one (manifest written) is.
      expect(during.length).toBeGreaterThan(0);
      expect(sample(during[0]!, 'postgres_backup_count', { database })).toBe(0);
      const fileBytes = statSync(result.localPath).size;
      expect(sample(after, 'postgres_backup_count', { database })).toBe(1);
      expect(sample(after, 'postgres_backup_copies', { database, location: 'local' })).toBe(1);
      expect(sample(after, 'postgres_backup_copies', { database, location: 'remote' })).toBe(1);
      expect(sample(after, 'postgres_backup_size_bytes', { database })).toBe(fileBytes);
      expect(sample(after, 'postgres_backup_uploaded_bytes_total', { database })).toBe(fileBytes);
      const lastSuccess = sample(after, 'postgres_backup_last_success_timestamp', { database })!;
      expect(lastSuccess).toBeGreaterThan(startedAt - 2);
      expect(lastSuccess).toBeLessThanOrEqual(Date.now() / 1000);
      const runLabels = { database, kind: 'backup', result: 'success' };
      expect(sample(after, 'postgres_backup_run_duration_seconds_count', runLabels)).toBe(1);
      expect(sample(after, 'postgres_backup_run_duration_seconds_sum', runLabels)).toBeGreaterThan(0);
      expect(receiver.bodies).toEqual([]);
      for (const text of [before, ...during, after]) expectNoSecret(text);
    });
  });

  it('writes the guide gauges with backupctl metrics --textfile', async () => {
    const textfile = join(tempDir('textfile'), 'backup.prom');
    const run = await backupctl(['metrics', '--textfile', textfile], testEnv(overrides));
    expect(run).toMatchObject({ exitCode: 0, stderr: '' });
    const text = readFileSync(textfile, 'utf8');
    expect(text).toContain('# TYPE postgres_backup_last_success_timestamp gauge');
    expect(sample(text, 'postgres_backup_count', { database })).toBe(1);
    expect(sample(text, 'postgres_backup_size_bytes', { database })).toBeGreaterThan(0);
    expect(sample(text, 'postgres_backup_last_success_timestamp', { database })).toBeGreaterThan(0);
    expectNoSecret(text);
  });

  it('a worker that starts later knows the last successful drill from its report', async () => {
    const backupDir = tempDir('drills');
    const finishedAt = '2026-01-02T03:04:05.000Z';
    const report = { database, ok: true, startedAt: '2026-01-02T03:00:00.000Z', finishedAt, rtoMs: 42_000 };
    mkdirSync(join(backupDir, 'reports'));
    writeFileSync(join(backupDir, 'reports', 'drill-20260102-030000.json'), JSON.stringify(report));
    const port = await freePort();
    await withWorker(
      testConfig({ ...overrides, BACKUP_DIR: backupDir, METRICS_PORT: String(port) }),
      async () => {
        const text = await poll(port, (t) => t.includes('postgres_backup_drill_last_success_timestamp{'));
        expect(sample(text, 'postgres_backup_drill_last_success_timestamp', { database })).toBe(
          Date.parse(finishedAt) / 1000,
        );
        expect(sample(text, 'postgres_backup_drill_rto_seconds', { database })).toBe(42);
      },
    );
  });

  it('counts a failed backup by error kind and posts it to the webhook, without secrets', async () => {
    const port = await freePort();
    const config = testConfig({
      ...overrides,
      DB_PORT: String(await freePort()),
      METRICS_PORT: String(port),
    });
    await withWorker(config, async (client) => {
      const handle = await startBackup(client, { database, taskQueue: config.temporal.taskQueue });
      await expect(waitForBackup(handle)).rejects.toMatchObject({ kind: 'DumpFailed' });
      const text = await scrape(port);
      const failureLabels = { database, kind: 'backup', error_kind: 'DumpFailed' };
      expect(sample(text, 'postgres_backup_run_failures_total', failureLabels)).toBe(1);
      expect(
        sample(text, 'postgres_backup_run_duration_seconds_count', {
          database,
          kind: 'backup',
          result: 'failure',
        }),
      ).toBe(1);
      expectNoSecret(text);

      expect(receiver.bodies).toHaveLength(1);
      const body = JSON.parse(receiver.bodies[0]!) as Record<string, unknown>;
      expect(body).toMatchObject({
        kind: 'backup',
        database,
        workflowId: handle.workflowId,
        errorKind: 'DumpFailed',
        url: `${config.temporal.uiUrl}/namespaces/default/workflows/${handle.workflowId}`,
      });
      expect(body.text).toContain('DumpFailed');
      expect(body.error).toEqual(expect.any(String));
      expectNoSecret(receiver.bodies[0]!);

      // The webhook answered 500: logged, and the report still completed (the run failed for its own reason).
      const history = JSON.stringify((await handle.fetchHistory()).events);
      expect(history).toMatch(/"activityType":\{"name":"reportRun"\}/);
      expect(history).toContain('activityTaskCompletedEventAttributes');
      expectNoSecret(history);
    });
  });

  it('backupctl worker serves /metrics and the Temporal SDK metrics on their ports', async () => {
    const [metricsPort, sdkPort] = [await freePort(), await freePort()];
    const worker = execa(process.execPath, [CLI, 'worker'], {
      env: {
        ...programBaseEnv(),
        ...testEnv({
          ...overrides,
          METRICS_PORT: String(metricsPort),
          TEMPORAL_METRICS_PORT: String(sdkPort),
        }),
      },
      extendEnv: false,
      reject: false,
    });
    try {
      const sdk = await poll(sdkPort, (text) => text.includes('temporal_'));
      expect(sdk).toMatch(/^temporal_\w+/m);
      const ours = await poll(metricsPort, (text) => text.includes('postgres_backup_count'));
      expect(sample(ours, 'postgres_backup_count', { database })).toBe(1);
      for (const text of [sdk, ours]) expectNoSecret(text);
    } finally {
      worker.kill('SIGTERM');
      await worker;
    }
  });
});

/** Scrapes until the text passes the check (the worker takes a few seconds to start). */
async function poll(port: number, check: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const text = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`no metrics on port ${port} after 60 s:\n${text}`);
    await sleep(250);
  }
}
