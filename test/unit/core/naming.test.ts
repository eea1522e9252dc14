import { describe, expect, it } from 'vitest';
import { classifyBackup } from '../../../src/core/classify.js';
import { archiveFileName, backupFileName, formatStamp, manifestKeyFor } from '../../../src/core/naming.js';
import { choosePartSize, MAX_PARTS, partRanges } from '../../../src/core/parts.js';
import { planBackup, planCompression } from '../../../src/core/plan.js';

describe('backup names', () => {
  it('follows the guide: <prefix>-YYYYMMDD-HHMMSS.dump[.gpg]', () => {
    const at = new Date('2024-03-15T02:00:00Z');
    expect(backupFileName({ prefix: 'goimg-backup', stamp: formatStamp(at, 'UTC'), encrypted: true })).toBe(
      'goimg-backup-20240315-020000.dump.gpg',
    );
    expect(backupFileName({ prefix: 'goimg-backup', stamp: formatStamp(at, 'UTC'), encrypted: false })).toBe(
      'goimg-backup-20240315-020000.dump',
    );
  });

  it('says .zst after .dump when zstd compressed the archive', () => {
    const parts = { prefix: 'app-backup', stamp: '20240315-020000', compression: 'zstd' } as const;
    expect(backupFileName({ ...parts, encrypted: true })).toBe('app-backup-20240315-020000.dump.zst.gpg');
    expect(backupFileName({ ...parts, encrypted: false })).toBe('app-backup-20240315-020000.dump.zst');
    expect(backupFileName({ ...parts, compression: 'gzip', encrypted: true })).toBe(
      'app-backup-20240315-020000.dump.gpg',
    );
  });

  it('finds the manifest of every kind of data name, old and new, and nothing else', () => {
    for (const suffix of ['.dump.zst.gpg', '.dump.zst', '.dump.gpg', '.dump']) {
      expect(manifestKeyFor(`upgrades/a-b-20240315-020000${suffix}`)).toBe(
        'upgrades/a-b-20240315-020000.manifest.json',
      );
    }
    for (const other of ['a.zst', 'a.dump.zst.gpg.sig', 'a.manifest.json', 'a.dump.partial', 'a.gpg'])
      expect(manifestKeyFor(other)).toBeUndefined();
  });

  it('names the archive pg_restore reads: decrypted, decompressed, a plain .dump', () => {
    expect(archiveFileName('a-20240315-020000.dump.zst.gpg')).toBe('a-20240315-020000.dump');
    expect(archiveFileName('a-20240315-020000.dump.zst')).toBe('a-20240315-020000.dump');
    expect(archiveFileName('a-20240315-020000.dump.gpg')).toBe('a-20240315-020000.dump');
    expect(archiveFileName('a-20240315-020000.dump')).toBe('a-20240315-020000.dump');
  });

  it('puts the label between prefix and time', () => {
    const name = backupFileName({
      prefix: 'app-backup',
      label: 'pre-v2.0-upgrade',
      stamp: '20240315-020000',
      encrypted: true,
    });
    expect(name).toBe('app-backup-pre-v2.0-upgrade-20240315-020000.dump.gpg');
  });

  it('uses the wall clock of the configured time zone', () => {
    const at = new Date('2024-03-15T23:30:00Z');
    expect(formatStamp(at, 'UTC')).toBe('20240315-233000');
    expect(formatStamp(at, 'Europe/Berlin')).toBe('20240316-003000');
  });
});

describe('classification', () => {
  it('is monthly on the 1st, weekly on Sunday, daily otherwise', () => {
    expect(classifyBackup(new Date('2024-03-01T02:00:00Z'), 'UTC')).toBe('monthly');
    expect(classifyBackup(new Date('2024-03-17T02:00:00Z'), 'UTC')).toBe('weekly');
    expect(classifyBackup(new Date('2024-03-15T02:00:00Z'), 'UTC')).toBe('daily');
  });

  it('prefers monthly when the 1st is a Sunday', () => {
    expect(classifyBackup(new Date('2024-09-01T02:00:00Z'), 'UTC')).toBe('monthly');
  });

  it('reads the date in the configured time zone', () => {
    // Saturday 23:30 UTC is already Sunday in Berlin.
    const at = new Date('2024-03-16T23:30:00Z');
    expect(classifyBackup(at, 'UTC')).toBe('daily');
    expect(classifyBackup(at, 'Europe/Berlin')).toBe('weekly');
  });

  it('makes a labeled backup pre-upgrade', () => {
    expect(classifyBackup(new Date('2024-03-01T02:00:00Z'), 'UTC', 'pre-v2')).toBe('pre-upgrade');
  });
});

describe('plan', () => {
  const base = {
    database: 'app',
    prefix: 'app-backup',
    startedAt: new Date('2024-03-03T02:00:00Z'),
    timeZone: 'UTC',
    encrypted: true,
    hostTaskQueue: 'q@h',
    retryAttempts: 3,
    compression: { method: 'gzip', level: 6 },
  } as const;

  it('stores a weekly backup in STANDARD_IA by default', () => {
    const plan = planBackup({
      ...base,
      remote: {
        location: 's3://b/p/',
        storageClasses: {
          daily: 'STANDARD',
          weekly: 'STANDARD_IA',
          monthly: 'GLACIER',
          'pre-upgrade': 'STANDARD',
        },
      },
    });
    expect(plan).toMatchObject({
      kind: 'weekly',
      key: 'app-backup-20240303-020000.dump.gpg',
      remote: { storageClass: 'STANDARD_IA' },
    });
    expect(plan.manifestKey).toBe('app-backup-20240303-020000.manifest.json');
  });

  it('says zstd in the name, and records the compression for the dump step', () => {
    const plan = planBackup({ ...base, compression: { method: 'zstd', level: 3 } });
    expect(plan.key).toBe('app-backup-20240303-020000.dump.zst.gpg');
    expect(plan.manifestKey).toBe('app-backup-20240303-020000.manifest.json');
    expect(planCompression(plan, { method: 'gzip', level: 9 })).toEqual({ method: 'zstd', level: 3 });
  });

  it('dumps a run planned before plans said how as its name says: pg_dump compresses', () => {
    expect(planCompression({}, { method: 'zstd', level: 3 })).toEqual({ method: 'gzip', level: 6 });
    expect(planCompression({}, { method: 'gzip', level: 2 })).toEqual({ method: 'gzip', level: 2 });
  });

  it('keeps labeled backups under upgrades/', () => {
    const plan = planBackup({ ...base, label: 'pre-v2.0-upgrade' });
    expect(plan.key).toBe('upgrades/app-backup-pre-v2.0-upgrade-20240303-020000.dump.gpg');
    expect(plan.remote).toBeUndefined();
  });
});

describe('multipart sizing', () => {
  it('fits any size in 10,000 parts', () => {
    for (const size of [1, 5 * 2 ** 20, 160 * 2 ** 30, 5 * 2 ** 40]) {
      const partSize = choosePartSize(size);
      expect(Math.ceil(size / partSize)).toBeLessThanOrEqual(MAX_PARTS);
      expect(partSize).toBeGreaterThanOrEqual(5 * 2 ** 20);
    }
  });

  it('covers every byte exactly once', () => {
    const ranges = partRanges(100, 30);
    expect(ranges.map((r) => [r.start, r.end])).toEqual([
      [0, 29],
      [30, 59],
      [60, 89],
      [90, 99],
    ]);
  });
});
