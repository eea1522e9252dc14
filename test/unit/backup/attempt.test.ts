import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as attempt from '../../../src/backup/attempt.js';
import type { PipelineResult } from '../../../src/backup/pipeline.js';
import { tempDir } from '../../helpers/files.js';

const result: PipelineResult = {
  archive: { bytes: 1000, sha256: 'archive-sha', tocEntries: 36 },
  file: { bytes: 1100, sha256: 'file-sha' },
  facts: {
    serverVersion: '15.20',
    pgDumpVersion: '15.20',
    tables: [
      { schema: 'public', table: 'users', rows: 40 },
      { schema: 'public', table: 'images', rows: 2 },
    ],
  },
  times: { dumpMs: 30, verifyMs: 20, encryptMs: 10 },
};

describe('dumpOutcome', () => {
  it('reports each runbook step: the dump with its row total, the verification, the compression, the encryption', () => {
    const upload = { key: 'k', uploadId: 'u', partSize: 5, size: 10, parts: [] };
    expect(
      attempt.dumpOutcome(
        { ...result, compressed: { bytes: 400, sha256: 'zstd-sha' } },
        { method: 'zstd', level: 3 },
        { name: 'openpgp', fingerprints: ['ABCD'] },
        '/b/k.dump.zst.gpg',
        upload,
      ),
    ).toEqual({
      dump: {
        bytes: 1000,
        sha256: 'archive-sha',
        tables: 2,
        totalRows: 42,
        serverVersion: '15.20',
        durationMs: 30,
      },
      verify: { tocEntries: 36, durationMs: 20 },
      compress: { method: 'zstd', level: 3, bytes: 400, sha256: 'zstd-sha' },
      encrypt: {
        method: 'openpgp',
        recipients: ['ABCD'],
        bytes: 1100,
        sha256: 'file-sha',
        localPath: '/b/k.dump.zst.gpg',
        durationMs: 10,
      },
      upload,
    });
  });
});

describe('a dump attempt kept for the next', () => {
  it('lives in BACKUP_DIR/.work, named by the stem', () => {
    expect(attempt.attemptFiles('/b', 'app-backup-1')).toEqual({
      folder: '/b/.work',
      facts: '/b/.work/app-backup-1.facts.json',
      outcome: '/b/.work/app-backup-1.outcome.json',
    });
  });

  it('is nothing before a dump finished, what it kept after, and nothing once forgotten', async () => {
    const files = attempt.attemptFiles(tempDir('attempt'), 'app-backup-1');
    expect(await attempt.earlierOutcome(files)).toBeUndefined();
    expect(await attempt.keptFacts(files)).toBeUndefined();

    mkdirSync(files.folder);
    const outcome = attempt.dumpOutcome(
      result,
      { method: 'gzip', level: 6 },
      { name: 'none', fingerprints: [] },
      '/b/k.dump',
      undefined,
    );
    await attempt.keepAttempt(files, result.facts, outcome);
    expect(await attempt.keptFacts(files)).toEqual(result.facts);
    expect(await attempt.earlierOutcome(files)).toEqual(JSON.parse(JSON.stringify(outcome)));

    await attempt.forgetAttempt(files);
    expect(await attempt.earlierOutcome(files)).toBeUndefined();
    expect(await attempt.keptFacts(files)).toBeUndefined();
  });

  it('fails on a file it cannot read, rather than dumping again over it', async () => {
    const files = attempt.attemptFiles(tempDir('attempt'), 'app-backup-1');
    mkdirSync(files.outcome, { recursive: true });
    await expect(attempt.earlierOutcome(files)).rejects.toThrow(/EISDIR/);
  });
});
