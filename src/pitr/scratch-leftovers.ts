import { existsSync, readFileSync } from 'node:fs';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { toolEnv } from '../process/env.js';

// A scratch server's marker, and the sweep that removes what a killed worker left: its scratch
// folders and the temporary servers still running in them.

/** Scratch folders are named so; the sweep looks at nothing else. */
export const SCRATCH_PREFIX = 'scratch-';
const MARKER = 'scratch.json';
/** A folder without a marker is being made (between mkdtemp and the marker) or was left half made. */
const UNMARKED_GRACE_MS = 10 * 60_000;

/** Who owns a scratch folder: the workflow run, and the worker process, which must still be alive. */
export interface ScratchMarker {
  workflowId: string;
  runId?: string;
  pid: number;
  /** The process's start time (/proc/PID/stat field 22): a reused pid is not the owner. */
  pidStart: string;
  createdAt: string;
  /** The server's socket folder, in the system's temporary folder (a socket path is short). */
  socketDir?: string;
}

export async function writeMarker(
  dir: string,
  owner: { workflowId: string; runId?: string },
  socketDir: string,
): Promise<void> {
  const marker: ScratchMarker = {
    ...owner,
    socketDir,
    pid: process.pid,
    pidStart: processStart(process.pid) ?? '',
    createdAt: new Date().toISOString(),
  };
  await writeFile(join(dir, MARKER), `${JSON.stringify(marker)}\n`, { mode: 0o600 });
}

export async function readMarker(dir: string): Promise<ScratchMarker | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, MARKER), 'utf8')) as ScratchMarker;
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** The owner is alive: the same pid, started at the same moment. */
function ownerAlive(marker: ScratchMarker): boolean {
  const start = processStart(marker.pid);
  return start !== undefined && start === marker.pidStart;
}

/**
 * Stops the server running in a data directory (immediate: it is thrown away), as the cluster's
 * user. Nothing to do when none runs there.
 */
export async function stopServer(pgCtl: string, dataDir: string, user: string): Promise<void> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  // After a reboot the pid a leftover postmaster.pid names may be another server's, the live one's
  // included: pg_ctl would stop it. Only a process started on this data directory is ours to stop.
  const pid = postmasterPid(dataDir);
  if (!pid || !runsOn(pid, dataDir)) return;
  const line = [pgCtl, '-D', dataDir, '-m', 'immediate', '-w', '-t', '60', 'stop'];
  const [file, ...args] =
    process.getuid?.() === 0 && user !== 'root' ? ['runuser', '-u', user, '--', ...line] : line;
  await execa(file!, args, { ...toolEnv(), cwd: '/', reject: false, stdin: 'ignore' });
  // pg_ctl refuses a postmaster.pid whose process is gone or not a postmaster: kill what it names.
  if (runsOn(pid, dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // it ended meanwhile
    }
  }
}

/** Whether the process runs with this data directory on its command line (postgres -D DIR). */
function runsOn(pid: number, dataDir: string): boolean {
  try {
    // Arguments are NUL-separated, or one line where the process rewrote its title.
    return ` ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')} `.includes(` ${dataDir} `);
  } catch {
    return false;
  }
}

export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface SweptScratch {
  dir: string;
  workflowId?: string;
}

/**
 * Removes the scratch folders under root whose owner process is gone (a killed worker), first
 * stopping any server still running in them. Folders of live owners, this worker's or another's on
 * the same host, are left alone.
 */
export async function sweepScratchLeftovers(
  root: string,
  pgCtlFor: (dataDir: string) => Promise<string>,
  user: string,
): Promise<SweptScratch[]> {
  const entries = await readdir(root).catch(() => [] as string[]);
  const swept: SweptScratch[] = [];
  for (const name of entries.filter((n) => n.startsWith(SCRATCH_PREFIX))) {
    const dir = join(root, name);
    const marker = await readMarker(dir);
    if (marker && ownerAlive(marker)) continue;
    if (!marker) {
      const made = await stat(dir).catch(() => undefined);
      if (!made || Date.now() - made.mtimeMs < UNMARKED_GRACE_MS) continue;
    }
    const dataDir = join(dir, 'data');
    if (postmasterPid(dataDir)) await stopServer(await pgCtlFor(dataDir), dataDir, user);
    // The marker lies in a folder the cluster's user owns: remove only a folder that has the name
    // and the place our socket folders have (mkdtemp's six characters in the temp folder).
    if (marker?.socketDir && isSocketFolder(marker.socketDir))
      await rm(marker.socketDir, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    swept.push({ dir, workflowId: marker?.workflowId });
  }
  return swept;
}

export function isSocketFolder(path: string): boolean {
  return dirname(path) === tmpdir() && new RegExp(`^pg${SCRATCH_PREFIX}[A-Za-z0-9]{6}$`).test(basename(path));
}
