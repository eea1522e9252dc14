import type { LogEntry } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { WorkerLogger } from '../../../src/worker/logger.js';

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
