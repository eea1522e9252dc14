import { describe, expect, it } from 'vitest';
import { backupManifest, type ManifestFacts } from '../../../src/core/backup-manifest.js';
import { parseManifest, serializeManifest } from '../../../src/core/manifest.js';

const facts: ManifestFacts = {
  plan: {
    database: 'app',
    kind: 'weekly',
    label: undefined,
    createdAt: '2024-03-17T02:00:00.000Z',
    key: '2024/03/app-backup-20240317-020000.dump.gpg',
  },
  found: {
    serverVersion: '15.20',
    pgDumpVersion: '15.20',
    tables: [{ schema: 'public', table: 'users', rows: 42 }],
  },
  outcome: {
    dump: { bytes: 1000, sha256: 'archive-sha' },
    verify: { tocEntries: 36 },
    encrypt: { bytes: 1100, sha256: 'file-sha', method: 'openpgp', recipients: ['ABCD'] },
  },
  compression: 6,
  completedAt: '2024-03-17T02:03:00.000Z',
};

describe('backupManifest', () => {
  it('records the archive, the stored file by its own name, the encryption and the tables', () => {
    const manifest = backupManifest(facts);
    expect(manifest).toMatchObject({
      formatVersion: 1,
      database: 'app',
      serverVersion: '15.20',
      pgDumpVersion: '15.20',
      kind: 'weekly',
      createdAt: '2024-03-17T02:00:00.000Z',
      completedAt: '2024-03-17T02:03:00.000Z',
      compression: 6,
      archive: { bytes: 1000, sha256: 'archive-sha', tocEntries: 36 },
      file: {
        name: 'app-backup-20240317-020000.dump.gpg',
        key: '2024/03/app-backup-20240317-020000.dump.gpg',
        bytes: 1100,
        sha256: 'file-sha',
      },
      encryption: { method: 'openpgp', recipients: ['ABCD'] },
      tables: [{ schema: 'public', table: 'users', rows: 42 }],
    });
    expect(manifest.remote).toBeUndefined();
    expect(parseManifest(serializeManifest(manifest), 'test')).toEqual(manifest);
  });

  it('names the remote copy only when the upload finished', () => {
    const manifest = backupManifest({
      ...facts,
      upload: { location: 's3://bucket/pg/', key: facts.plan.key, etag: '"e"', storageClass: 'STANDARD_IA' },
    });
    expect(manifest.remote).toEqual({
      location: 's3://bucket/pg/',
      key: '2024/03/app-backup-20240317-020000.dump.gpg',
      etag: '"e"',
      storageClass: 'STANDARD_IA',
    });
  });
});
