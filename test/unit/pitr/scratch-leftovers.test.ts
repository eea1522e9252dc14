import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSocketFolder, stopServer } from '../../../src/pitr/scratch-leftovers.js';

// The leftover sweep runs as root over folders the cluster's user owns: what it reads there may be
// planted, so it removes and stops only what has the shape of its own.

describe('the scratch leftover sweep', () => {
  it('removes only socket folders named and placed as its own', () => {
    expect(isSocketFolder(join(tmpdir(), 'pgscratch-a1B2c3'))).toBe(true);
    expect(isSocketFolder('/tmp/scratch-/../../etc')).toBe(false);
    expect(isSocketFolder(join(tmpdir(), 'pgscratch-a1B2c3', '..', '..', 'etc'))).toBe(false);
    expect(isSocketFolder(join(tmpdir(), 'pgscratch-a1B2c3-x'))).toBe(false);
    expect(isSocketFolder('/var/lib/pgscratch-a1B2c3')).toBe(false);
  });

  it('leaves alone a process that postmaster.pid names but that does not run on that data directory', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'scratch-test-')), 'data');
    mkdirSync(dataDir);
    // A reused pid: some other process, as the live server could be after a reboot.
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dataDir, 'postmaster.pid'), `${other.pid}\n${dataDir}\n`);
      await stopServer('/bin/true', dataDir, 'root');
      // Long enough for the exit of a killed child to reach its 'exit' event.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(other.signalCode).toBeNull();
      expect(other.exitCode).toBeNull();
    } finally {
      other.kill('SIGKILL');
    }
  });
});
