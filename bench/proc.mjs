// Memory of a process and its descendants, from /proc (Linux only).
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
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

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime (clock ticks), ppid and comm of a process, or undefined once it is gone. */
function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    return { comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Busy and total clock ticks of the whole machine (/proc/stat). */
function machineTicks() {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const ticks = values.map(Number);
  const idle = ticks[3] + ticks[4];
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * CPU seconds spent while it runs, by process, from /proc/<pid>/stat every intervalMs: the worker
 * (`root`) itself, each of its descendants by command name (pg_dump, zstd, pg_restore, gpg), the
 * PostgreSQL backends of `database` (their command line names it), SeaweedFS (`weed`), every other
 * postgres process, and the rest of the machine. A process that ends between two polls loses at most
 * intervalMs of its time. stop() returns { seconds: {label: CPU-s}, machineBusy, machineWall }.
 */
export function sampleCpu(root, database, intervalMs = 100) {
  const seen = new Map(); // pid -> { label, comm, first, last }
  let initial = true;
  const started = machineTicks();
  const startedAt = performance.now();
  const labelOf = (pid, info, table) => {
    if (pid === root) return 'worker (node)';
    for (let p = info.ppid, hops = 0; p > 1 && hops < 20; p = table.get(p)?.ppid ?? 0, hops++)
      if (p === root) return info.comm;
    if (info.comm === 'weed') return 'weed (SeaweedFS)';
    if (info.comm === 'postgres') {
      return cmdlineOf(pid).includes(` ${database} `) ? `postgres backend (${database})` : 'postgres (other)';
    }
    return 'other';
  };
  const poll = () => {
    const table = new Map();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const info = cpuOf(Number(entry));
      if (info) table.set(Number(entry), info);
    }
    for (const [pid, info] of table) {
      const known = seen.get(pid);
      // A child forked a moment ago still has its parent's name (node, before exec), a backend the
      // postmaster's command line: look again.
      if (known && (known.comm !== info.comm || known.label === 'postgres (other)')) {
        known.label = labelOf(pid, info, table);
        known.comm = info.comm;
      }
      if (known) known.last = info.ticks;
      else
        seen.set(pid, {
          label: labelOf(pid, info, table),
          comm: info.comm,
          first: initial ? info.ticks : 0,
          last: info.ticks,
        });
    }
    initial = false;
  };
  return pollEvery(intervalMs, poll, () => {
    const ended = machineTicks();
    const seconds = {};
    for (const { label, first, last } of seen.values()) {
      if (last > first) seconds[label] = (seconds[label] ?? 0) + (last - first) / CLOCK_TICKS;
    }
    for (const label of Object.keys(seconds)) seconds[label] = Math.round(seconds[label] * 100) / 100;
    return {
      seconds,
      machineBusy: (ended.busy - started.busy) / CLOCK_TICKS,
      wall: (performance.now() - startedAt) / 1000,
    };
  });
}
