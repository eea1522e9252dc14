// The benchmark's report: tables on stdout, the targets with ok/MISSED, and, as the last line,
// one JSON object.
import console from 'node:console';
import { cpus } from 'node:os';
import { mib, round, seconds } from './util.mjs';

const GIB = 2 ** 30;
const pad = (text, width) => String(text).padEnd(width);
const num = (value, width = 9, digits = 1) =>
  (value === undefined ? '' : value.toFixed(digits)).padStart(width);
const mean = (a, b) => (a + b) / 2;
const stepsS = (steps) => Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, seconds(v)]));

function printTable(title, rows) {
  console.log(title);
  for (const [label, s, ratio] of rows) {
    console.log(`  ${pad(label, 62)}${num(s)}${ratio === undefined ? '' : num(ratio, 12, 2)}`);
  }
}

/** "name value <= limit ok" or "name value > limit MISSED"; nothing when value is undefined. */
function target(name, value, limit, unit = '') {
  if (value === undefined) return undefined;
  const ok = value <= limit;
  const shown = limit < 10 ? limit.toFixed(2) : limit;
  return `${name} ${value}${unit} ${ok ? '<=' : '>'} ${shown}${unit} ${ok ? 'ok' : 'MISSED'}`;
}

export function report(r) {
  const { database, compression, ours, before, after, guide, restore, flat } = r;
  const o = ours.outcome;
  const d = o.durationsMs ?? {};
  const bareMs = mean(before.bareMs, after.bareMs);
  const pgbr = before.pgbackrest && {
    ms: mean(before.pgbackrest.ms, after.pgbackrest.ms),
    before: before.pgbackrest.ms,
    after: after.pgbackrest.ms,
    bytes: before.pgbackrest.bytes,
  };
  // dump, verify and encrypt run over one stream, side by side: they overlap, the upload follows.
  const stepSum = Math.max(d.dump ?? 0, d.verify ?? 0, d.encrypt ?? 0) + (d.upload ?? 0);
  const backupRatio = ours.ms / bareMs;
  const vsPgBackRest = pgbr && ours.ms / pgbr.ms;
  const guideRatio = guide && guide.ms / bareMs;
  console.log('');
  console.log(
    `durable-backup benchmark: database ${database}, ${(r.databaseBytes / GIB).toFixed(2)} GiB (pg_database_size), ` +
      `compression ${compression.label} (${r.pgDumpVersion}), ${cpus().length} CPUs`,
  );
  console.log(
    `archive ${mib(o.archiveBytes)} MiB, encrypted file ${mib(o.fileBytes)} MiB; key ${r.key.algorithm}; warm-up read ${seconds(r.warmupMs)} s` +
      (pgbr
        ? `; cluster ${mib(r.cluster)} MiB (sum of pg_database_size), pgBackRest repository ${mib(pgbr.bytes)} MiB`
        : ''),
  );
  console.log('');
  const rows = [
    [`bare ${compression.label} dump to /dev/null (mean of before and after)`, seconds(bareMs), 1],
    [`  before our backup`, seconds(before.bareMs)],
    [`  after our backup`, seconds(after.bareMs)],
  ];
  if (pgbr) {
    rows.push([`pgBackRest backup --type=full, whole cluster (mean)`, seconds(pgbr.ms), pgbr.ms / bareMs]);
    rows.push([`  before our backup`, seconds(pgbr.before)], [`  after our backup`, seconds(pgbr.after)]);
  }
  rows.push(['durable-backup: backupctl backup --wait --json (end to end)', seconds(ours.ms), backupRatio]);
  for (const step of ['plan', 'dump', 'verify', 'encrypt', 'upload', 'manifest']) {
    if (d[step] !== undefined)
      rows.push([`  ${step} (step time; dump, verify, encrypt overlap)`, seconds(d[step])]);
  }
  rows.push(['  other: client, Temporal scheduling, manifest, ...', seconds(ours.ms - stepSum)]);
  if (guide) {
    rows.push([`guide: dump to a file, gpg --encrypt, aws s3 cp`, seconds(guide.ms), guideRatio]);
    rows.push([`  ${compression.label} dump to a file`, seconds(guide.steps.pg_dump)]);
    rows.push([
      `  gpg --encrypt (${mib(guide.sizes.dump)} -> ${mib(guide.sizes.sealed)} MiB)`,
      seconds(guide.steps.gpg),
    ]);
    rows.push(['  /usr/bin/aws s3 cp', seconds(guide.steps.aws)]);
  }
  printTable(`${pad('', 62)}  seconds  vs bare dump`, rows);
  if (guide)
    console.log(`  ${pad('durable-backup / guide', 62)}${num(undefined)}${num(ours.ms / guide.ms, 12, 2)}`);
  if (pgbr)
    console.log(`  ${pad('durable-backup / pgBackRest', 62)}${num(undefined)}${num(vsPgBackRest, 12, 2)}`);

  let restoreRatio, restoreVsGuide, bareRestoreMs, guideRestore;
  if (restore) {
    bareRestoreMs = mean(restore.before.bareMs, restore.after.bareMs);
    restoreRatio = restore.ours.ms / bareRestoreMs;
    if (restore.before.guide) {
      const [g1, g2] = [restore.before.guide, restore.after.guide];
      guideRestore = {
        ms: mean(g1.ms, g2.ms),
        before: g1.ms,
        after: g2.ms,
        steps: Object.fromEntries(Object.keys(g1.steps).map((k) => [k, mean(g1.steps[k], g2.steps[k])])),
      };
      restoreVsGuide = restore.ours.ms / guideRestore.ms;
    }
    console.log('');
    const phases = restore.ours.outcome.status.phases;
    const restoreRows = [
      ['bare pg_restore -j2 from a local plaintext archive (mean)', seconds(bareRestoreMs), 1],
      ['  before our restore', seconds(restore.before.bareMs)],
      ['  after our restore', seconds(restore.after.bareMs)],
    ];
    if (guideRestore) {
      const zstd = restore.zstd ? ', zstd -d' : '';
      restoreRows.push(
        [
          `guide: aws s3 cp, gpg --decrypt${zstd}, pg_restore -j2 (mean)`,
          seconds(guideRestore.ms),
          guideRestore.ms / bareRestoreMs,
        ],
        ['  before our restore', seconds(guideRestore.before)],
        ['  after our restore', seconds(guideRestore.after)],
        ...Object.entries(guideRestore.steps).map(([step, ms]) => [`  ${step} (mean)`, seconds(ms)]),
      );
    }
    restoreRows.push(
      [
        'durable-backup: backupctl restore --s3-key --force (end to end)',
        seconds(restore.ours.ms),
        restoreRatio,
      ],
      ...phases.map((p) => [`  ${p.phase}`, seconds(p.durationMs)]),
    );
    printTable(`${pad('', 62)}  seconds  vs bare pg_restore`, restoreRows);
    if (guideRestore)
      console.log(`  ${pad('durable-backup / guide', 62)}${num(undefined)}${num(restoreVsGuide, 12, 2)}`);
    const drill = restore.ours.drill;
    console.log(
      `DR drill (backupctl drill: the newest backup into a scratch database, verified, dropped): ` +
        `RTO ${seconds(drill.rtoMs)} s, target ${seconds(drill.rtoTargetMs)} s, ${drill.withinTarget ? 'within' : 'OVER'} target`,
    );
  }
  console.log('');
  const rss = ours.rss;
  const children = Object.entries(rss.children)
    .map(([name, bytes]) => `${name} ${mib(bytes)}`)
    .join(', ');
  console.log(
    `worker RSS (MiB): peak ${mib(rss.lifetimePeak)} (VmHWM, whole life), ${mib(rss.startupPeak)} at the end of startup, ` +
      `${mib(rss.idle)} idle, ${mib(rss.backupPeak)} peak during the backup (sampled every 200 ms)`,
  );
  if (children) console.log(`worker's child processes, peak RSS (MiB, sampled): ${children}`);
  if (ours.cpu) {
    const byProcess = Object.entries(ours.cpu.seconds)
      .sort(([, a], [, b]) => b - a)
      .map(([name, s]) => `${name} ${s.toFixed(2)}`)
      .join(', ');
    console.log(
      `CPU seconds during our backup (/proc, every 100 ms; ${ours.cpu.wall.toFixed(1)} s wall, ` +
        `machine busy ${ours.cpu.machineBusy.toFixed(1)} CPU-s): ${byProcess}`,
    );
  }
  if (flat) {
    console.log(
      `flat check: ${r.flatDatabase} (${(r.flatBytes / GIB).toFixed(2)} GiB): worker peak ${mib(flat.rss.lifetimePeak)} MiB, ` +
        `during the backup ${mib(flat.rss.backupPeak)} MiB; ${database}: ${mib(rss.lifetimePeak)} / ${mib(rss.backupPeak)} MiB`,
    );
  }
  if (r.table) {
    console.log('');
    console.log(`bare pg_dump -Fc to a file, ${database}:`);
    console.log('');
    console.log('| level | time (s) | size (MiB) |');
    console.log('| ----: | -------: | ---------: |');
    for (const row of r.table)
      console.log(`| ${row.level} | ${row.seconds.toFixed(1)} | ${row.size_mb.toFixed(1)} |`);
  }
  console.log('');
  const peakMb = mib(rss.lifetimePeak);
  const targets = [
    target('vs_pgbackrest', pgbr && round(vsPgBackRest), 1.0),
    target('backup_ratio', round(backupRatio), 1.15),
    target('worker peak RSS', peakMb, 300, ' MiB'),
    target('restore_vs_guide', restoreVsGuide && round(restoreVsGuide), 1.0),
    target('restore_ratio', restoreRatio && round(restoreRatio), 1.15),
  ].filter(Boolean);
  const benchS = Math.round((Date.now() - r.benchStarted) / 1000);
  console.log(`targets: ${targets.join('; ')}; bench took ${benchS} s`);
  const json = {
    size_gb: r.options.sizeGb,
    database,
    database_bytes: r.databaseBytes,
    cluster_bytes: r.cluster,
    compression: compression.label,
    bare_dump_s: seconds(bareMs),
    bare_dump_before_after_s: [seconds(before.bareMs), seconds(after.bareMs)],
    backup_s: seconds(ours.ms),
    backup_ratio: round(backupRatio, 3),
    backup_steps_s: stepsS(d),
    backup_bytes: o.fileBytes,
    archive_mb: mib(o.archiveBytes),
    file_mb: mib(o.fileBytes),
    pgbackrest: r.pgbackrestVersion,
    pgbackrest_s: pgbr && seconds(pgbr.ms),
    pgbackrest_before_after_s: pgbr && [seconds(pgbr.before), seconds(pgbr.after)],
    pgbackrest_bytes: pgbr?.bytes,
    vs_pgbackrest: pgbr && round(vsPgBackRest, 3),
    guide_s: guide && seconds(guide.ms),
    guide_ratio: guide && round(guideRatio, 3),
    guide_steps_s: guide && stepsS(guide.steps),
    backup_vs_guide: guide && round(ours.ms / guide.ms, 3),
    backup_cpu_s: ours.cpu?.seconds,
    backup_machine_busy_cpu_s: ours.cpu && round(ours.cpu.machineBusy, 1),
    worker_peak_rss_mb: peakMb,
    worker_backup_peak_rss_mb: mib(rss.backupPeak),
    worker_idle_rss_mb: mib(rss.idle),
    children_peak_rss_mb: Object.fromEntries(Object.entries(rss.children).map(([k, v]) => [k, mib(v)])),
    flat_check: flat && {
      database: r.flatDatabase,
      database_bytes: r.flatBytes,
      worker_peak_rss_mb: mib(flat.rss.lifetimePeak),
      worker_backup_peak_rss_mb: mib(flat.rss.backupPeak),
      backup_s: seconds(flat.ms),
    },
    compression_table: r.table,
    bare_pg_restore_s: restore && seconds(bareRestoreMs),
    bare_pg_restore_before_after_s: restore && [
      seconds(restore.before.bareMs),
      seconds(restore.after.bareMs),
    ],
    guide_restore_s: guideRestore && seconds(guideRestore.ms),
    guide_restore_before_after_s: guideRestore && [seconds(guideRestore.before), seconds(guideRestore.after)],
    guide_restore_steps_s: guideRestore && stepsS(guideRestore.steps),
    restore_s: restore && seconds(restore.ours.ms),
    restore_ratio: restore && round(restoreRatio, 3),
    restore_vs_guide: restoreVsGuide && round(restoreVsGuide, 3),
    restore_phases_s:
      restore &&
      Object.fromEntries(restore.ours.outcome.status.phases.map((p) => [p.phase, seconds(p.durationMs)])),
    drill_rto_s: restore && seconds(restore.ours.drill.rtoMs),
    bench_s: benchS,
  };
  console.log(JSON.stringify(json));
}
