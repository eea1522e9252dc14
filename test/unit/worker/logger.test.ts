import { ApplicationFailure } from '@temporalio/common';
import type { LogEntry } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { WorkerLogger, formatLogLine } from '../../../src/worker/logger.js';

describe('WorkerLogger', () => {
  it('drops the warning an activity-only queue always gives, and passes everything else on', () => {
    const seen: LogEntry[] = [];
    const logger = new WorkerLogger('INFO', (entry) => seen.push(entry));
    logger.warn('No workflows registered, not polling for workflow tasks', { taskQueue: 'q@host' });
    logger.warn('Activity failed', { activityType: 'uploadBackup' });
    logger.info('No workflows registered, not polling for workflow tasks');
    expect(seen.map((e) => [e.level, e.message])).toEqual([
      ['WARN', 'Activity failed'],
      ['INFO', 'No workflows registered, not polling for workflow tasks'],
    ]);
  });
});

describe('formatLogLine', () => {
  const secret = 's3cr3t"pass\\word';
  // What the SDK logs when an activity fails: a failure, with a cause, a stack, details, a bigint.
  const failure = ApplicationFailure.create({
    type: 'UploadFailed',
    message: `upload to http://u:${secret}@s3 failed\non two lines`,
    details: [{ attempt: 3 }],
    cause: new Error(`socket hang up (${secret})`),
  });
  const entry: LogEntry = {
    level: 'WARN',
    message: 'Activity failed',
    timestampNanos: 1_700_000_000_123_000_000n,
    meta: { activityType: 'uploadBackup', attempt: 3, error: failure, sdkComponent: 'activity', big: 5n },
  };

  it('writes JSON as one line that keeps the error, its cause and stack, with every secret redacted', () => {
    const line = formatLogLine(entry, 'json', [secret]);
    expect(line).not.toContain('\n');
    expect(line).not.toContain('s3cr3t');
    const parsed = JSON.parse(line) as Record<string, unknown> & { error: Record<string, unknown> };
    expect(parsed).toMatchObject({
      time: '2023-11-14T22:13:20.123Z',
      level: 'WARN',
      message: 'Activity failed',
      activityType: 'uploadBackup',
      attempt: 3,
      big: '5',
    });
    expect(parsed.error).toMatchObject({
      name: 'ApplicationFailure',
      type: 'UploadFailed',
      message: 'upload to http://u:[redacted]@s3 failed\non two lines',
      cause: { name: 'Error', message: 'socket hang up ([redacted])' },
    });
    expect(parsed.error.stack).toMatch(/\n\s+at /);
  });

  it('writes pretty as one line: time, level, message, key=value, errors as message and cause', () => {
    const line = formatLogLine(entry, 'pretty', [secret]);
    expect(line).not.toContain('\n');
    expect(line).not.toContain('s3cr3t');
    expect(line).not.toMatch(/\bat /);
    expect(line).toBe(
      '2023-11-14T22:13:20.123Z WARN  Activity failed activityType=uploadBackup attempt=3 ' +
        'error="ApplicationFailure: upload to http://u:[redacted]@s3 failed\\non two lines; cause: Error: socket hang up ([redacted])" ' +
        'sdkComponent=activity big=5',
    );
  });

  it('survives a cycle in the metadata', () => {
    const looped: Record<string, unknown> = { name: 'loop' };
    looped.self = looped;
    const line = formatLogLine({ ...entry, meta: { looped } }, 'json', []);
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toHaveProperty('looped.name', 'loop');
  });
});
