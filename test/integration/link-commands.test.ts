import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { REPO_ROOT } from '../helpers/services.js';

// Issue #19: scripts/link-commands.sh (run by scripts/setup.sh) puts backupctl and temporal on the
// PATH of a new shell. Here into a folder of the test's own (BIN_DIR), never the host's.

const SCRIPT = join(REPO_ROOT, 'scripts/link-commands.sh');

/** Runs the script (of this checkout, or of a copy elsewhere) into binDir; what it printed. */
async function link(binDir: string, script = SCRIPT): Promise<string> {
  const run = await execa('bash', [script], {
    env: { PATH: '/usr/bin:/bin', HOME: tempDir('home'), BIN_DIR: binDir },
    extendEnv: false,
  });
  return run.stdout;
}

/** A command as a new shell runs it: `env -i bash -c`, PATH bash's default plus binDir. */
function inNewShell(binDir: string, command: string) {
  // stdin not a socket: bash would take itself for a remote shell and read ~/.bashrc.
  return execa('env', ['-i', 'bash', '-c', `PATH="${binDir}:$PATH"; ${command}`], {
    reject: false,
    stdin: 'ignore',
  });
}

describe('scripts/link-commands.sh', () => {
  it('writes backupctl and temporal wrappers that run this checkout from a new shell', async () => {
    const bin = tempDir('bin');
    expect(await link(bin)).toContain(`${bin}/backupctl runs ${REPO_ROOT.replace(/\/$/, '')}'s backupctl`);
    const help = await inNewShell(bin, 'backupctl --help');
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: backupctl /);
    // A worker started by hand runs with the memory settings of the unit and the image.
    expect(readFileSync(join(bin, 'backupctl'), 'utf8')).toMatch(
      /exec env MALLOC_ARENA_MAX="\$\{MALLOC_ARENA_MAX:-2\}" '[^']+' --max-semi-space-size=2 -- /,
    );
    const temporal = await inNewShell(bin, 'temporal --version');
    expect(temporal.stdout).toMatch(/^temporal version /);
    // Again: the same wrappers, rewritten in place.
    await link(bin);
    expect((await inNewShell(bin, 'backupctl --help')).exitCode).toBe(0);
  });

  it('leaves alone a command of that name that it did not write', async () => {
    const bin = tempDir('bin');
    writeFileSync(join(bin, 'backupctl'), '#!/bin/sh\necho theirs\n', { mode: 0o755 });
    expect(await link(bin)).toContain(`${bin}/backupctl exists and is not ours; left as it is`);
    expect(readFileSync(join(bin, 'backupctl'), 'utf8')).toBe('#!/bin/sh\necho theirs\n');
  });

  it('a wrapper of a checkout that is not built says what to run, exit 2', async () => {
    const checkout = tempDir('checkout');
    mkdirSync(join(checkout, 'scripts'));
    copyFileSync(SCRIPT, join(checkout, 'scripts/link-commands.sh'));
    const bin = tempDir('bin');
    await link(bin, join(checkout, 'scripts/link-commands.sh'));
    const run = await inNewShell(bin, 'backupctl list');
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toBe(
      `backupctl: ${checkout}/dist/src/cli/main.js is missing: run npm run build in ${checkout}`,
    );
  });
});
