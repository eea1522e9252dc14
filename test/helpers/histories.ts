import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { execa } from 'execa';
import { REPO_ROOT, servicesEnv } from './services.js';

// Recorded histories of real runs, replayed by every npm test (test/integration/replay.test.ts): a
// change to a workflow that would break the runs in flight when it is deployed fails CI.

const HISTORIES_DIR = join(REPO_ROOT, 'test/histories');

/**
 * With RECORD_HISTORIES=1, saves a finished run's history as a replay fixture. Re-record on purpose
 * only, when a workflow change is meant to be incompatible (and old runs are drained first).
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  // The temporal CLI's JSON, as `temporal workflow show --output json` prints it for anyone to read.
  const { stdout } = await execa(join(REPO_ROOT, '.tools/bin/temporal'), [
    'workflow',
    'show',
    '--address',
    servicesEnv().TEMPORAL_ADDRESS!,
    '--workflow-id',
    handle.workflowId,
    '--output',
    'json',
  ]);
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), `${stdout.trim()}\n`);
}

export function recordedHistories(): { name: string; history: History }[] {
  return readdirSync(HISTORIES_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({
      name: file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8'))),
    }));
}

/** Payloads are base64 JSON in a history: every one of them, decoded, to search for a value. */
export function decodedPayloads(historyJson: string): string[] {
  return [...historyJson.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) =>
    Buffer.from(m[1]!, 'base64').toString(),
  );
}
