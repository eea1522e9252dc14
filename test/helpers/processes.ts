import { readdirSync, readFileSync } from 'node:fs';

/** Command lines and environments of the running processes whose command line contains text, as `ps` and /proc show them. */
export function processesMatching(text: string): { pid: number; cmdline: string; environ: string }[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return cmdline.includes(text)
          ? [{ pid: Number(pid), cmdline, environ: readFileSync(`/proc/${pid}/environ`, 'utf8') }]
          : [];
      } catch {
        return []; // the process ended meanwhile
      }
    });
}

/** Waits, up to 5 s, for find to return something. */
export async function eventually<T>(find: () => T[]): Promise<T[]> {
  for (let tries = 0; find().length === 0 && tries < 50; tries += 1)
    await new Promise((r) => setTimeout(r, 100));
  return find();
}

/** The parent pid of a process, as /proc/PID/stat shows it; undefined when it has ended. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: count the fields after its closing one.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Whether a process of that pid exists (signal 0 checks without sending anything). */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
