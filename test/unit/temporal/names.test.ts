import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msToNumber } from '@temporalio/common/lib/time.js';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import {
  DEFAULT_TASK_QUEUE,
  hostActivityOptions,
  hostTaskQueueName,
  restoreQueueOptions,
  restoreTaskQueueName,
} from '../../../src/temporal/names.js';
import { REPO_ROOT } from '../../helpers/services.js';

const NAMES_MODULE = 'src/temporal/names.ts';

/** Every TypeScript file of the program: the library, the workflows and the activities. */
function programFiles(): string[] {
  return ['src', 'workflows', 'activities'].flatMap((dir) =>
    readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join(dir, name)),
  );
}

/** "file: line" for each line holding the quoted string exactly. */
function linesQuoting(text: string): string[] {
  const quoted = new RegExp(`['"\`]${text}['"\`]`);
  return programFiles().flatMap((file) =>
    readFileSync(join(REPO_ROOT, file), 'utf8')
      .split('\n')
      .filter((line) => quoted.test(line))
      .map((line) => `${file}: ${line.trim()}`),
  );
}

describe('Temporal names in one module', () => {
  it('spells the default task queue once: the other "durable-backup"s are a schedule memo and a PostgreSQL application name', () => {
    expect(linesQuoting('durable-backup').sort()).toEqual([
      "src/postgres/connection.ts: application_name: 'durable-backup',",
      "src/schedules/index.ts: export const MANAGED_BY = 'durable-backup';",
      `${NAMES_MODULE}: export const DEFAULT_TASK_QUEUE = 'durable-backup';`,
    ]);
  });

  it('is the default of TEMPORAL_TASK_QUEUE, and the restore and host queues derive from the configured one', () => {
    expect(loadConfig({ env: { DB_NAME: 'app' } }).temporal.taskQueue).toBe(DEFAULT_TASK_QUEUE);
    const { taskQueue } = loadConfig({ env: { DB_NAME: 'app', TEMPORAL_TASK_QUEUE: 'backups' } }).temporal;
    expect(restoreTaskQueueName(taskQueue)).toBe('backups-restore');
    expect(restoreQueueOptions(taskQueue).taskQueue).toBe('backups-restore');
    expect(hostTaskQueueName(taskQueue, 'db1')).toBe('backups@db1');
  });

  it("spaces the host steps' retries so that the default 5 attempts span 75 s (docs/reliability.md)", () => {
    const retry = hostActivityOptions('q@host', 5).retry!;
    const waitsMs = Array.from({ length: retry.maximumAttempts! - 1 }, (_, attempt) =>
      Math.min(
        msToNumber(retry.initialInterval!) * retry.backoffCoefficient! ** attempt,
        msToNumber(retry.maximumInterval!),
      ),
    );
    expect(waitsMs).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect(waitsMs.reduce((sum, wait) => sum + wait, 0)).toBe(75_000);
  });

  it("imports only what workflows may: Temporal's workflow and common packages, and types of the pure core", () => {
    const source = readFileSync(join(REPO_ROOT, NAMES_MODULE), 'utf8');
    const imports = [...source.matchAll(/^import (type )?[^;]*? from '([^']+)';$/gms)].map(
      ([, type, from]) => `${type ?? ''}${from}`,
    );
    expect(imports.length).toBeGreaterThan(0);
    for (const from of imports) {
      expect(from).toMatch(/^(@temporalio\/(workflow|common)|type \.\.\/core\/[a-z/-]+\.js)$/);
    }
  });
});
