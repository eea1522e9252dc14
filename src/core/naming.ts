import type { CompressionMethod } from './compression.js';

// Backup names, as the operations guide has them: <prefix>[-<label>]-YYYYMMDD-HHMMSS.dump[.gpg],
// with .zst after .dump when zstd compressed the archive (.dump.zst.gpg). Pure: used by workflows,
// activities and the CLI alike.

export const DUMP_SUFFIX = '.dump';
export const ZSTD_SUFFIX = '.zst';
export const ENCRYPTED_SUFFIX = '.gpg';
/** Every ending of a backup's data, longest first: old names (.dump, .dump.gpg) included. */
export const DATA_SUFFIXES = [
  DUMP_SUFFIX + ZSTD_SUFFIX + ENCRYPTED_SUFFIX,
  DUMP_SUFFIX + ZSTD_SUFFIX,
  DUMP_SUFFIX + ENCRYPTED_SUFFIX,
  DUMP_SUFFIX,
] as const;
export const MANIFEST_SUFFIX = '.manifest.json';
/** Labeled (pre-upgrade) backups live apart, under this folder, as the guide's upgrades/ directory. */
export const UPGRADES_FOLDER = 'upgrades/';

const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface LocalTimeParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday, as Date#getDay. */
  weekday: number;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The wall-clock parts of an instant in an IANA time zone. */
export function localTimeParts(instant: Date, timeZone: string): LocalTimeParts {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    weekday: 'short',
  });
  const parts = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(String(parts.weekday)),
  };
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** YYYYMMDD-HHMMSS of an instant in a time zone. */
export function formatStamp(instant: Date, timeZone: string): string {
  const t = localTimeParts(instant, timeZone);
  return `${pad(t.year, 4)}${pad(t.month)}${pad(t.day)}-${pad(t.hour)}${pad(t.minute)}${pad(t.second)}`;
}

export function isValidLabel(label: string): boolean {
  return LABEL_PATTERN.test(label);
}

export function isValidPrefix(prefix: string): boolean {
  return PREFIX_PATTERN.test(prefix);
}

export interface BackupNameParts {
  prefix: string;
  label?: string;
  stamp: string;
  encrypted: boolean;
  /** Zstd adds .zst; absent (or gzip, none: pg_dump's own) adds nothing. */
  compression?: CompressionMethod;
}

/** The base name, without .dump[.zst][.gpg]: the stem shared by the archive and its manifest. */
export function backupStem(parts: Omit<BackupNameParts, 'encrypted' | 'compression'>): string {
  return parts.label ? `${parts.prefix}-${parts.label}-${parts.stamp}` : `${parts.prefix}-${parts.stamp}`;
}

export function backupFileName(parts: BackupNameParts): string {
  const compressed = parts.compression === 'zstd' ? ZSTD_SUFFIX : '';
  return `${backupStem(parts)}${DUMP_SUFFIX}${compressed}${parts.encrypted ? ENCRYPTED_SUFFIX : ''}`;
}

export function manifestFileName(stem: string): string {
  return `${stem}${MANIFEST_SUFFIX}`;
}

/** The manifest that belongs beside a data key, or undefined when the key is not a backup's data. */
export function manifestKeyFor(dataKey: string): string | undefined {
  const suffix = DATA_SUFFIXES.find((s) => dataKey.endsWith(s));
  return suffix && dataKey.slice(0, -suffix.length) + MANIFEST_SUFFIX;
}

/**
 * The name of the archive pg_restore reads, made from a stored file's: decrypted and decompressed,
 * it is a plain custom-format .dump (x.dump.zst.gpg -> x.dump).
 */
export function archiveFileName(fileName: string): string {
  const suffix = DATA_SUFFIXES.find((s) => fileName.endsWith(s));
  return suffix ? fileName.slice(0, -suffix.length) + DUMP_SUFFIX : fileName.replace(/\.gpg$/, '');
}

/**
 * Whether a data key is named for this manifest (the same stem): a manifest that names any other
 * object, another backup's data say, is not one of ours to keep or to delete by.
 */
export function isDataKeyOf(manifestKey: string, dataKey: string): boolean {
  return (
    manifestKey.endsWith(MANIFEST_SUFFIX) &&
    dataKey.startsWith(`${manifestKey.slice(0, -MANIFEST_SUFFIX.length)}.`)
  );
}
