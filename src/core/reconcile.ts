import type { Manifest } from './manifest.js';

// 3-2-1 reconciliation, the pure part: from what each store holds of a backup (its manifest, and the
// archive as the store reports it), say where the local and the remote copy disagree.

/** One store's copy of a backup: its manifest, and the archive beside it (undefined when missing). */
export interface StoreCopy {
  manifest: Manifest;
  archive?: { size: number; storageClass?: string };
  /** Why a reader may not trust this copy (src/core/trust.ts); undefined when trusted or not judged. */
  untrusted?: string;
}

/** What each store holds of one backup, under its manifest key. */
export interface BackupCopies<Copy extends StoreCopy = StoreCopy> {
  manifestKey: string;
  local?: Copy;
  remote?: Copy;
}

export interface Drift {
  manifestKey: string;
  dataKey: string;
  createdAt: string;
  /** What disagrees, one phrase each: "no remote copy", "remote archive has 12 bytes, ...". */
  problems: string[];
  /** The local copy is complete and trusted, the remote one missing, damaged or untrusted: it can be uploaded again. */
  repairable: boolean;
}

export interface DriftReport {
  /** The complete backups compared: those complete in at least one store. */
  checked: number;
  drift: Drift[];
}

/** A copy is complete with its manifest and an archive of the manifest's size (as the catalog counts). */
export function isComplete(copy: StoreCopy | undefined): copy is StoreCopy {
  return copy !== undefined && copy.archive?.size === copy.manifest.file.bytes;
}

/**
 * Compares the copies of every backup complete somewhere; newest first. Backups complete nowhere are
 * left out: they are what failed runs left, for the sweep's cleanup. Without a bucket only the
 * local copies are compared.
 */
export function reconcileCopies(all: BackupCopies[], withRemote: boolean): DriftReport {
  const complete = all
    .filter((c) => isComplete(c.local) || isComplete(c.remote))
    .sort((a, b) => manifestOf(b).createdAt.localeCompare(manifestOf(a).createdAt));
  const drift = complete.map((c) => driftOf(c, withRemote)).filter((d) => d.problems.length > 0);
  return { checked: complete.length, drift };
}

/** The newest backup complete in at least one store. */
export function newestComplete(all: BackupCopies[]): Manifest | undefined {
  return all
    .filter((c) => isComplete(c.local) || isComplete(c.remote))
    .map(manifestOf)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
}

function manifestOf(copies: BackupCopies): Manifest {
  return (copies.local ?? copies.remote)!.manifest;
}

function driftOf(copies: BackupCopies, withRemote: boolean): Drift {
  const manifest = manifestOf(copies);
  const remoteProblems = withRemote
    ? [...copyProblems('remote', copies.remote), ...checksumProblems(copies)]
    : [];
  const localProblems = copyProblems('local', copies.local);
  return {
    manifestKey: copies.manifestKey,
    dataKey: manifest.file.key,
    createdAt: manifest.createdAt,
    problems: [...localProblems, ...remoteProblems, ...(withRemote ? storageClassProblems(copies) : [])],
    repairable: localProblems.length === 0 && remoteProblems.length > 0,
  };
}

function copyProblems(side: 'local' | 'remote', copy: StoreCopy | undefined): string[] {
  if (!copy) return [`no ${side} copy`];
  if (!copy.archive) return [`${side} archive missing (its manifest is there)`];
  const { size } = copy.archive;
  const expected = copy.manifest.file.bytes;
  if (size !== expected) return [`${side} archive has ${size} bytes, its manifest says ${expected}`];
  return copy.untrusted ? [`${side} copy not trusted: ${copy.untrusted}`] : [];
}

/** The two manifests must describe the same file: a different checksum means one copy is another file. */
function checksumProblems({ local, remote }: BackupCopies): string[] {
  if (!local || !remote) return [];
  const [ours, theirs] = [local.manifest.file, remote.manifest.file];
  if (ours.sha256 === theirs.sha256 && ours.bytes === theirs.bytes) return [];
  return [
    `checksums differ: local sha256 ${ours.sha256.slice(0, 12)}…, remote ${theirs.sha256.slice(0, 12)}…`,
  ];
}

/**
 * The class the object has against the one the manifest recorded. Drift, but no damage: a lifecycle
 * rule may have moved the object on purpose, so it is reported and never repaired.
 */
function storageClassProblems({ local, remote }: BackupCopies): string[] {
  const recorded = remote?.manifest.remote?.storageClass ?? local?.manifest.remote?.storageClass;
  const actual = remote?.archive?.storageClass;
  if (!recorded || !actual || actual === recorded) return [];
  return [`remote storage class ${actual}, the manifest says ${recorded}`];
}
