import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Test keyrings live in a folder of this run (the forked test processes inherit its path), and each
 * starts a gpg-agent: when the run ends, stop those agents, and only those, then remove the folder.
 */
export default function setup() {
  const root = mkdtempSync(join(tmpdir(), 'durable-backup-gnupg-'));
  process.env.TEST_GNUPG_ROOT = root;
  return async () => {
    await execa('pkill', ['-f', `gpg-agent --homedir ${root}/`], { reject: false });
    rmSync(root, { recursive: true, force: true });
  };
}
