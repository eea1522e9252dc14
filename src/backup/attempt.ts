import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompressionSetting, Digest } from '../core/compression.js';
import type { Manifest } from '../core/manifest.js';
import type { DumpFacts } from '../postgres/dump.js';
import type { UploadCheckpoint } from '../storage/types.js';
import type { PipelineResult } from './pipeline.js';

// What a backup's dump attempt leaves for the attempts after it. A dump cannot resume, but once it
// finished, a retry whose report was lost returns its outcome again, and the manifest step reads
// what pg_dump found. Both live in BACKUP_DIR/.work until the manifest is written.

/**
 * The outcome of the fused dump step, one entry per runbook step so the history shows each: the
 * steps stream into each other (the plaintext never touches the disk), but each reports its own.
 */
export interface DumpOutcome {
  dump: {
    bytes: number;
    sha256: string;
    tables: number;
    totalRows: number;
    serverVersion: string;
    durationMs: number;
  };
  verify: { tocEntries: number; durationMs: number };
  /**
   * How the archive was compressed, and the compressed stream when a stage of ours did it (zstd).
   * Absent in outcomes of dumps made before compression was a setting.
   */
  compress?: CompressionSetting & Partial<Digest>;
  encrypt: {
    method: Manifest['encryption']['method'];
    recipients: string[];
    bytes: number;
    sha256: string;
    localPath: string;
    durationMs: number;
  };
  /** The parts already sent while the file was written; the upload step finishes from here. */
  upload?: UploadCheckpoint;
}

/** The dump step's outcome from what the pipeline did, the sealer it used and where the file is. */
export function dumpOutcome(
  result: PipelineResult,
  compression: CompressionSetting,
  sealer: { name: Manifest['encryption']['method']; fingerprints: string[] },
  localPath: string,
  upload: UploadCheckpoint | undefined,
): DumpOutcome {
  return {
    dump: {
      bytes: result.archive.bytes,
      sha256: result.archive.sha256,
      tables: result.facts.tables.length,
      totalRows: result.facts.tables.reduce((sum, t) => sum + t.rows, 0),
      serverVersion: result.facts.serverVersion,
      durationMs: result.times.dumpMs,
    },
    verify: { tocEntries: result.archive.tocEntries, durationMs: result.times.verifyMs },
    compress: { ...compression, ...result.compressed },
    encrypt: {
      method: sealer.name,
      recipients: sealer.fingerprints,
      ...result.file,
      localPath,
      durationMs: result.times.encryptMs,
    },
    upload,
  };
}

export interface AttemptFiles {
  /** BACKUP_DIR/.work, on the same file system as the backup. */
  folder: string;
  /** What pg_dump found (versions, row counts), for the manifest. */
  facts: string;
  /** The dump step's outcome, so a retry after it finished returns it again. */
  outcome: string;
}

export function attemptFiles(backupDir: string, stem: string): AttemptFiles {
  const folder = join(backupDir, '.work');
  return {
    folder,
    facts: join(folder, `${stem}.facts.json`),
    outcome: join(folder, `${stem}.outcome.json`),
  };
}

/** The outcome an earlier attempt kept; undefined when none finished. */
export function earlierOutcome(files: AttemptFiles): Promise<DumpOutcome | undefined> {
  return readJsonIfPresent<DumpOutcome>(files.outcome);
}

/** What pg_dump found, as the dump step kept it; undefined once the manifest was written. */
export function keptFacts(files: AttemptFiles): Promise<DumpFacts | undefined> {
  return readJsonIfPresent<DumpFacts>(files.facts);
}

/** Keeps a finished dump's facts and outcome (the folder exists: the dump step made it). */
export async function keepAttempt(
  files: AttemptFiles,
  facts: DumpFacts,
  outcome: DumpOutcome,
): Promise<void> {
  await writeFile(files.facts, JSON.stringify(facts), { mode: 0o600 });
  await writeFile(files.outcome, JSON.stringify(outcome), { mode: 0o600 });
}

/** After the manifest: nothing is left to resume. */
export async function forgetAttempt(files: AttemptFiles): Promise<void> {
  await rm(files.outcome, { force: true });
  await rm(files.facts, { force: true });
}

async function readJsonIfPresent<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
