// Physical backups through pgBackRest, the pure part: what `pgbackrest info --output=json` says of a
// stanza's backups and WAL archive, and the full-backup retention window that keeps every logical
// backup the policy keeps recoverable to its moment (docs/pitr.md#expiry).

export const PHYSICAL_BACKUP_TYPES = ['full', 'diff', 'incr'] as const;
export type PhysicalBackupType = (typeof PHYSICAL_BACKUP_TYPES)[number];

export function isPhysicalBackupType(value: unknown): value is PhysicalBackupType {
  return typeof value === 'string' && (PHYSICAL_BACKUP_TYPES as readonly string[]).includes(value);
}

/** One backup of a stanza, as `pgbackrest info` describes it. */
export interface PhysicalBackup {
  /** pgBackRest's label, such as 20261208-001500F or 20261208-001500F_20261209-010000D. */
  label: string;
  type: PhysicalBackupType;
  /** The full (or differential) backup it depends on; undefined for a full one. */
  prior?: string;
  /** ISO times the backup started and stopped. */
  startedAt: string;
  stoppedAt: string;
  /** The cluster's size, and what this backup copied (the rest is its prior's). */
  databaseBytes: number;
  deltaBytes: number;
  /** The backup in the repository (compressed, and encrypted when the cipher is on), and its own part. */
  repoBytes: number;
  repoDeltaBytes: number;
  /** The WAL segments from which and to which a restore of it must replay to be consistent. */
  walStart: string;
  walStop: string;
}

export interface StanzaInfo {
  stanza: string;
  /** pgBackRest's status: 0 ok; otherwise its message (no valid backups, missing stanza path...). */
  status: { code: number; message: string };
  /** Oldest first, as pgBackRest lists them. */
  backups: PhysicalBackup[];
  /** The oldest and newest archived WAL segment of the current database, when there is one. */
  archive?: { min: string; max: string };
}

interface RawBackup {
  label: string;
  type: string;
  prior?: string | null;
  timestamp: { start: number; stop: number };
  info: { size: number; delta: number; repository: { size: number; delta: number } };
  archive?: { start?: string | null; stop?: string | null };
  error?: boolean;
}

interface RawStanza {
  name: string;
  status: { code: number; message: string };
  backup?: RawBackup[];
  archive?: { id: string; min?: string | null; max?: string | null }[];
}

/** The stanza's part of `pgbackrest --stanza=S info --output=json`; throws on text that is not. */
export function parseStanzaInfo(json: string, stanza: string): StanzaInfo {
  const all = JSON.parse(json) as RawStanza[];
  const raw = Array.isArray(all) ? all.find((s) => s.name === stanza) : undefined;
  if (!raw) throw new Error(`pgbackrest info says nothing of stanza ${stanza}`);
  const archive = raw.archive?.at(-1);
  return {
    stanza,
    status: { code: raw.status.code, message: raw.status.message },
    backups: (raw.backup ?? []).filter((b) => !b.error && isPhysicalBackupType(b.type)).map(backupOf),
    archive: archive?.min && archive.max ? { min: archive.min, max: archive.max } : undefined,
  };
}

function backupOf(b: RawBackup): PhysicalBackup {
  return {
    label: b.label,
    type: b.type as PhysicalBackupType,
    prior: b.prior ?? undefined,
    startedAt: new Date(b.timestamp.start * 1000).toISOString(),
    stoppedAt: new Date(b.timestamp.stop * 1000).toISOString(),
    databaseBytes: b.info.size,
    deltaBytes: b.info.delta,
    repoBytes: b.info.repository.size,
    repoDeltaBytes: b.info.repository.delta,
    walStart: b.archive?.start ?? '',
    walStop: b.archive?.stop ?? '',
  };
}

/** The newest backup (of a type, or of any): the one a restore would start from. */
export function newestBackup(info: StanzaInfo, type?: PhysicalBackupType): PhysicalBackup | undefined {
  return info.backups.filter((b) => !type || b.type === type).at(-1);
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The repo1-retention-full (days, with repo1-retention-full-type=time) that `pgbackrest expire` gets
 * in the retention sweep. pgBackRest keeps every full backup younger than the window and the newest
 * one older than it, with the WAL from that one on. The window reaches one day further back than the
 * oldest logical backup kept: so the full backup kept before it had stopped (a full backup takes
 * less than a day) before that backup's moment, and every kept backup's moment can be recovered to.
 * With no logical backup kept, the daily window of the policy (at least one day).
 */
export function fullRetentionDays(kept: { createdAt: string }[], asOf: Date, dailyDays: number): number {
  const oldest = Math.min(...kept.map((k) => Date.parse(k.createdAt)).filter(Number.isFinite));
  if (!Number.isFinite(oldest)) return Math.max(1, dailyDays);
  const days = Math.ceil(Math.max(0, asOf.getTime() - oldest) / DAY_MS) + 1;
  return Math.max(days, 1);
}

/** The arguments of `pgbackrest expire` for that window (no secret: the repository is in the file). */
export function expireArgs(days: number): string[] {
  return ['--repo1-retention-full-type=time', `--repo1-retention-full=${days}`];
}
