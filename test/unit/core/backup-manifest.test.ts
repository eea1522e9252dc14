import { describe, expect, it } from 'vitest';
import { backupManifest, type ManifestFacts } from '../../../src/core/backup-manifest.js';
import { compressionOf } from '../../../src/core/compression.js';
import { parseManifest, sealedContent, serializeManifest } from '../../../src/core/manifest.js';

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
  compression: { method: 'gzip', level: 6 },
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
      compression: { method: 'gzip', level: 6 },
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

describe('compression in the manifest', () => {
  it('records zstd with its level and the compressed stream, which is what the encryption wrapped', () => {
    const manifest = backupManifest({
      ...facts,
      plan: { ...facts.plan, key: 'app-backup-20240317-020000.dump.zst.gpg' },
      outcome: {
        ...facts.outcome,
        compress: { method: 'zstd', level: 3, bytes: 400, sha256: 'zstd-sha' },
      },
    });
    expect(manifest.compression).toEqual({
      method: 'zstd',
      level: 3,
      stream: { bytes: 400, sha256: 'zstd-sha' },
    });
    expect(manifest.file.name).toBe('app-backup-20240317-020000.dump.zst.gpg');
    expect(sealedContent(manifest)).toEqual({ bytes: 400, sha256: 'zstd-sha' });
  });

  it("takes the outcome's compression over the configured one (the dump did it)", () => {
    const manifest = backupManifest({
      ...facts,
      outcome: { ...facts.outcome, compress: { method: 'none', level: 0 } },
    });
    expect(manifest.compression).toEqual({ method: 'none', level: 0 });
  });

  it("reads an old manifest: a number is pg_dump's own gzip at that level, 0 none", () => {
    const old = { ...backupManifest(facts), compression: 6 };
    const read = parseManifest(serializeManifest(old), 'old');
    expect(compressionOf(read)).toEqual({ method: 'gzip', level: 6 });
    expect(compressionOf({ compression: 0 })).toEqual({ method: 'none', level: 0 });
    expect(sealedContent(read)).toEqual({ bytes: 1000, sha256: 'archive-sha' });
  });

  it('refuses a manifest whose compression this version has no driver for', () => {
    const text = serializeManifest({
      ...backupManifest(facts),
      compression: { method: 'lz4' as 'none', level: 1 },
    });
    expect(() => parseManifest(text, 'x.manifest.json')).toThrow(
      'x.manifest.json: a compression this version cannot read ({"method":"lz4","level":1})',
    );
  });
});
