import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../../src/core/manifest.js';
import { newestBefore, relativeS3Key } from '../../../../src/core/restore/source.js';

describe('relativeS3Key', () => {
  it('takes keys with or without S3_PREFIX, and only backup data', () => {
    expect(relativeS3Key('postgres-backups/app-backup-20240315-020000.dump.gpg', 'postgres-backups/')).toBe(
      'app-backup-20240315-020000.dump.gpg',
    );
    expect(relativeS3Key('app-backup-20240315-020000.dump', 'postgres-backups/')).toBe(
      'app-backup-20240315-020000.dump',
    );
    expect(relativeS3Key('upgrades/app-backup-v2-20240315-020000.dump.gpg', 'postgres-backups/')).toBe(
      'upgrades/app-backup-v2-20240315-020000.dump.gpg',
    );
  });

  it('refuses keys that escape the prefix or are not backups', () => {
    expect(relativeS3Key('../other/app-backup-20240315-020000.dump', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('/abs/app-backup-20240315-020000.dump', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('postgres-backups/app.manifest.json', 'postgres-backups/')).toBeUndefined();
    expect(relativeS3Key('notes.txt', '')).toBeUndefined();
  });
});

describe('newestBefore', () => {
  const entries = ['2024-03-15T02:00:00Z', '2024-03-14T02:00:00Z', '2024-03-13T02:00:00Z'].map(
    (createdAt) => ({
      manifest: { createdAt } as Manifest,
    }),
  );

  it('picks the newest, or the newest taken strictly before a time', () => {
    expect(newestBefore(entries)?.manifest.createdAt).toBe('2024-03-15T02:00:00Z');
    expect(newestBefore(entries, '2024-03-15T02:00:00Z')?.manifest.createdAt).toBe('2024-03-14T02:00:00Z');
    expect(newestBefore(entries, '2024-03-01')).toBeUndefined();
  });
});
