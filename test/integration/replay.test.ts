import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { recordedHistories } from '../helpers/histories.js';
import { workflowBundle } from '../helpers/temporal.js';

describe('replay of recorded histories', () => {
  const histories = recordedHistories();

  it('has a backup and a restore to replay', () => {
    expect(histories.map((h) => h.name).sort()).toEqual(
      expect.arrayContaining(['backup', 'restore-approved', 'restore-rejected']),
    );
  });

  it.each(histories)(
    'replays $name with the current workflow code (no nondeterminism)',
    async ({ name, history }) => {
      await expect(
        Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, name),
      ).resolves.toBeUndefined();
    },
  );
});
