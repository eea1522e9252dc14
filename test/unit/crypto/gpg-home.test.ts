import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processIdentity, removeAbandonedGpgHomes } from '../../../src/crypto/gpg-home.js';

describe('removeAbandonedGpgHomes', () => {
  it("removes the homes of workers that no longer run, keeps a live worker's, and touches nothing else", () => {
    const folder = mkdtempSync(join(tmpdir(), 'gpg-homes-'));
    const ours = processIdentity(process.pid)!;
    const [pid, startTime] = ours.split('.');
    const home = (name: string) => {
      mkdirSync(join(folder, name));
      return join(folder, name);
    };
    const live = home(`durable-backup-restore-gnupg-${ours}-a1b2c3`);
    // The same pid with another start time: a dead worker whose pid a restarted container reused.
    const reused = home(`durable-backup-restore-gnupg-${pid}.${Number(startTime) + 1}-d4e5f6`);
    const dead = home('durable-backup-restore-gnupg-999999999.12345-g7h8i9');
    const older = home('durable-backup-restore-gnupg-j1k2l3');
    const unrelated = home('gnupg-someone-else');

    expect(removeAbandonedGpgHomes(folder).sort()).toEqual([dead, older, reused].sort());
    expect([live, unrelated].every((path) => existsSync(path))).toBe(true);
    expect([dead, older, reused].some((path) => existsSync(path))).toBe(false);
  });

  it('tells a process by its pid and start time, and a missing one by nothing', () => {
    expect(processIdentity(process.pid)).toMatch(new RegExp(`^${process.pid}\\.\\d+$`));
    expect(processIdentity(999999999)).toBeUndefined();
  });
});
