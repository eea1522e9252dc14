import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

/**
 * Every temporary file of a run goes to a folder of its own: TMPDIR, which the forked test
 * processes and the programs they start inherit. Test keyrings and the gpg decrypter's homes live
 * there too, each with a gpg-agent: when the run ends, stop those agents (only those), then remove
 * the folder. Forked test processes end without the 'exit' event that would clean up after them.
 */
export default function setup() {
  const root = mkdtempSync(join(tmpdir(), 'durable-backup-test-'));
  // Readable by the postgres user, for the password cluster's data folder inside it.
  chmodSync(root, 0o755);
  process.env.TMPDIR = root;
  return async () => {
    await execa('pkill', ['-f', `gpg-agent --homedir ${root}/`], { reject: false });
    rmSync(root, { recursive: true, force: true });
  };
}
