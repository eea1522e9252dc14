// Memory of a process and its descendants, from /proc (Linux only).
import { readdirSync, readFileSync } from 'node:fs';
import { clearInterval, setInterval } from 'node:timers';

/** A field of /proc/PID/status in bytes (VmRSS, VmHWM, ...), or undefined once the process is gone. */
export function statusBytes(pid, field) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** pid -> { ppid, comm } for every live process. */
function processTable() {
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [state, ppid] = stat
        .slice(close + 2)
        .split(' ')
        .slice(0, 2);
      if (state !== 'Z') table.set(Number(entry), { ppid: Number(ppid), comm });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

function descendantsOf(root, table) {
  const children = new Map();
  for (const [pid, { ppid }] of table) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(pid);
  }
  const found = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift();
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/**
 * Polls the RSS of `pid` and of its descendants (grouped by command name, e.g. pg_dump) every
 * intervalMs. stop() returns the peaks seen; the root's VmHWM (its true peak, between polls too)
 * is read separately by the caller while the process still lives.
 */
export function sampleRss(pid, intervalMs = 200) {
  let peak = 0;
  let samples = 0;
  const children = {};
  const poll = () => {
    const rss = statusBytes(pid, 'VmRSS');
    if (rss !== undefined) {
      peak = Math.max(peak, rss);
      samples++;
    }
    const table = processTable();
    for (const child of descendantsOf(pid, table)) {
      const childRss = statusBytes(child, 'VmRSS');
      const name = table.get(child)?.comm ?? 'unknown';
      if (childRss !== undefined) children[name] = Math.max(children[name] ?? 0, childRss);
    }
  };
  return pollEvery(intervalMs, poll, () => ({ peakRssBytes: peak, samples, childrenPeakRssBytes: children }));
}

/** Runs poll now and every intervalMs; stop() polls once more and returns what result() says. */
function pollEvery(intervalMs, poll, result) {
  poll();
  const timer = setInterval(poll, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      poll();
      return result();
    },
  };
}

/** The PGDATABASE a process was started with, or undefined (gone, or not ours to read). */
function pgDatabaseOf(pid) {
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    const entry = environ.split('\0').find((e) => e.startsWith('PGDATABASE='));
    return entry?.slice('PGDATABASE='.length);
  } catch {
    return undefined;
  }
}

/**
 * Counts, every intervalMs, the live pg_dump processes whose environment names one of `databases`
 * (PGDATABASE, as the worker passes it): others' pg_dumps on a shared machine are not counted.
 * stop() returns the most seen at once and the number of samples.
 */
export function samplePgDumps(databases, intervalMs = 100) {
  const wanted = new Set(databases);
  let most = 0;
  let samples = 0;
  const poll = () => {
    let count = 0;
    for (const [pid, { comm }] of processTable()) {
      if (comm === 'pg_dump' && wanted.has(pgDatabaseOf(pid))) count++;
    }
    most = Math.max(most, count);
    samples++;
  };
  return pollEvery(intervalMs, poll, () => ({ most, samples }));
}
