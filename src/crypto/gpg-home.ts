import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolEnv } from '../process/env.js';

// The GnuPG homes the gpg decrypter keeps its copy of the restore key in: made 0700 under the
// temporary folder, removed with their agent when the worker ends, and, after a kill -9, by the next
// worker to start.

const HOME_PREFIX = 'durable-backup-restore-gnupg-';
const homes: string[] = [];
// Stop the home's gpg-agent, then remove the home: an agent outlives its worker otherwise.
process.on('exit', () => homes.forEach(removeHome));

/**
 * Only what gpg needs: execa would pass the worker's whole environment on, GPG_PASSPHRASE with it.
 * LC_ALL=C keeps gpg's messages in the English that GPG_REASONS matches.
 */
export function gpgEnv(home: string) {
  return toolEnv({ GNUPGHOME: home, LC_ALL: 'C' });
}

/**
 * Under the system's temporary directory rather than BACKUP_DIR: gpg-agent puts its socket in the
 * home, and a socket path must stay under 108 bytes and on a local file system, which BACKUP_DIR (a
 * long path, a network mount) need not be. mkdtemp makes it 0700, as gpg demands. The name carries
 * the worker's identity (pid and start time), so that the next worker can tell a dead worker's home
 * from a live one's, even when a restarted container gives it the same pid.
 */
export function privateHome(): string {
  const home = mkdtempSync(join(tmpdir(), `${HOME_PREFIX}${processIdentity(process.pid)}-`));
  homes.push(home);
  // No passphrase stays in the agent: each decryption hands it over again (loopback, fd 3).
  writeFileSync(join(home, 'gpg-agent.conf'), 'default-cache-ttl 0\nmax-cache-ttl 0\n', { mode: 0o600 });
  return home;
}

function removeHome(home: string): void {
  spawnSync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent'], {
    stdio: 'ignore',
    env: gpgEnv(home).env,
  });
  rmSync(home, { recursive: true, force: true });
}

/**
 * Removes the GnuPG homes that workers killed outright (SIGKILL, OOM) left in the temporary folder,
 * and stops their agents: every home whose worker no longer runs, and homes of older versions, whose
 * names carry no identity. Returns what it removed, for the worker's log.
 */
export function removeAbandonedGpgHomes(folder = tmpdir()): string[] {
  const abandoned = readdirSync(folder)
    .filter((name) => name.startsWith(HOME_PREFIX))
    .filter((name) => {
      const owner = /^(\d+)\.(\d+)-/.exec(name.slice(HOME_PREFIX.length));
      return !owner || processIdentity(Number(owner[1])) !== `${owner[1]}.${owner[2]}`;
    })
    .map((name) => join(folder, name));
  abandoned.forEach(removeHome);
  return abandoned;
}

/**
 * <pid>.<start time>: the start time (in clock ticks since boot, /proc/<pid>/stat's 22nd field)
 * tells a process from a later one that got its pid. "<pid>.0" where /proc cannot say; undefined
 * when no such process runs.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count the fields after its ")".
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return `${pid}.${startTime ?? 0}`;
  } catch {
    return processRuns(pid) ? `${pid}.0` : undefined;
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
