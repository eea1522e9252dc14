// The wave benchmark's report (bench/wave.mjs): a table on stdout, the targets with ok/MISSED, and,
// as the last line, one JSON object.
import console from 'node:console';
import { cpus } from 'node:os';
import { mib, round, seconds } from './util.mjs';

/** The most a worker may hold, whatever the number of databases (issue #20). */
const RSS_LIMIT_MB = 300;

const pad = (text, width) => String(text).padEnd(width);

/** { median, max } in seconds of the defined values, or undefined when there are none. */
export function spread(values) {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median: seconds(median), max: seconds(sorted.at(-1)) };
}

const shown = (s) => (s ? `median ${s.median} s, max ${s.max} s` : 'n/a');

function target(name, ok, detail) {
  return `  ${pad(name, 34)}${pad(detail, 50)}${ok ? 'ok' : 'MISSED'}`;
}

export function waveReport(r) {
  const { databases, sizes, bound, half, sequential, single, double } = r;
  const rssMb = (peaks) => Math.max(...peaks.map((p) => mib(p.lifetime)));
  const queueWait = spread(single.histories.map((h) => h.toFirstActivityMs));
  const dumpWait = spread(single.histories.map((h) => h.dumpWaitMs));
  const twoDumpWait = spread(double.histories.map((h) => h.dumpWaitMs));
  const singleRss = rssMb(single.peaks);
  const pairRss = Object.fromEntries(double.peaks.map((p) => [p.name, mib(p.lifetime)]));
  const waveVsSum = single.ms / sequential.sumMs;
  const failures = single.failures;
  const load = r.load.map((l) => round(l, 2));
  const meanMb = sizes.reduce((a, b) => a + b, 0) / sizes.length / 2 ** 20;

  console.log('');
  console.log(
    `durable-backup wave benchmark: ${databases.length} databases of ${meanMb.toFixed(1)} MiB on average ` +
      `(pg_database_size; made or checked in ${seconds(r.generationMs)} s), ${cpus().length} CPUs, ` +
      `load average ${load.join(' ')} at the end`,
  );
  console.log('');
  const rows = [
    [
      'worker runtime',
      r.untuned ? 'untuned (BENCH_WORKER_UNTUNED)' : 'MALLOC_ARENA_MAX=2, --max-semi-space-size=2',
    ],
    ['one worker, bound (WORKER_MAX_CONCURRENT_BACKUPS)', bound],
    ['  the backups one by one: sum of wall times', `${seconds(sequential.sumMs)} s`],
    ['  the backups one by one: failures', sequential.failures],
    ['  the wave: wall time', `${seconds(single.ms)} s (${round(waveVsSum, 2)} of the sum)`],
    ['  the wave: failures', failures],
    ['  the wave: most pg_dump at once', `${single.pgDumps.most} (${single.pgDumps.samples} samples)`],
    ['  worker RSS once polling, before any backup', `${mib(r.idleBytes ?? 0)} MiB`],
    ['  worker peak RSS one by one (sampled)', `${mib(r.sequentialPeakBytes ?? 0)} MiB`],
    ['  worker peak RSS (VmHWM, whole run)', `${singleRss} MiB`],
    ['  worker peak RSS during the wave (sampled)', `${mib(single.peaks[0].sampled)} MiB`],
    ['  start to first activity (queueing)', shown(queueWait)],
    ['  dump scheduled to started (slots)', shown(dumpWait)],
    ['two workers, same WORKER_HOST_ID, bound each', half],
    ['  the wave: wall time', `${seconds(double.ms)} s`],
    ['  the wave: failures', double.failures],
    ['  the wave: most pg_dump at once', `${double.pgDumps.most} (${double.pgDumps.samples} samples)`],
    ['  dumps run by each worker', JSON.stringify(double.dumpsByWorker)],
    ['  workers RSS once polling', JSON.stringify(r.pairIdleBytes.map((b) => mib(b ?? 0)))],
    ['  workers peak RSS (VmHWM)', JSON.stringify(pairRss)],
    ['  dump scheduled to started (slots)', shown(twoDumpWait)],
  ];
  for (const [label, value] of rows) console.log(`  ${pad(label, 50)}${value}`);
  console.log('');
  console.log('targets');
  const allFailures = sequential.failures + failures + double.failures;
  const lines = [
    target('failures (all three runs)', allFailures === 0, `${allFailures}`),
    target(
      'most pg_dump at once <= bound',
      single.pgDumps.most <= bound && double.pgDumps.most <= 2 * half,
      `${single.pgDumps.most} <= ${bound}; two workers ${double.pgDumps.most} <= ${2 * half}`,
    ),
    target(
      `worker peak RSS <= ${RSS_LIMIT_MB} MiB`,
      Math.max(singleRss, ...Object.values(pairRss)) <= RSS_LIMIT_MB,
      `${singleRss} MiB; two workers ${Object.values(pairRss).join(', ')} MiB`,
    ),
    target(
      'wave wall time <= one by one',
      single.ms <= sequential.sumMs,
      `${seconds(single.ms)} s <= ${seconds(sequential.sumMs)} s`,
    ),
  ];
  for (const line of lines) console.log(line);
  console.log(`(the whole bench took ${seconds(r.benchMs)} s)`);
  console.log(
    JSON.stringify({
      databases: databases.length,
      db_size_mb: round(meanMb, 1),
      wave_s: seconds(single.ms),
      one_by_one_s: seconds(sequential.sumMs),
      wave_vs_sum: round(waveVsSum, 2),
      max_pg_dump_at_once: single.pgDumps.most,
      bound,
      worker_peak_rss_mb: singleRss,
      worker_idle_rss_mb: mib(r.idleBytes ?? 0),
      worker_runtime: r.untuned ? 'untuned' : 'tuned',
      worker_one_by_one_rss_mb: mib(r.sequentialPeakBytes ?? 0),
      failures,
      one_by_one_failures: sequential.failures,
      queue_wait_s: queueWait,
      dump_queue_wait_s: dumpWait,
      two_workers: {
        wave_s: seconds(double.ms),
        bound_each: half,
        dumps_by_worker: double.dumpsByWorker,
        max_pg_dump_at_once: double.pgDumps.most,
        failures: double.failures,
        peak_rss_mb: pairRss,
        dump_queue_wait_s: twoDumpWait,
      },
      load_average: load,
      cpus: cpus().length,
    }),
  );
}
