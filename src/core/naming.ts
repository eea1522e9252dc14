// Backup names, as the operations guide has them: <prefix>[-<label>]-YYYYMMDD-HHMMSS.dump[.gpg].
// Pure: used by workflows, activities and the CLI alike.

export const DUMP_SUFFIX = '.dump';
export const ENCRYPTED_SUFFIX = '.gpg';
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
}

/** The base name, without .dump[.gpg]: the stem shared by the archive and its manifest. */
export function backupStem(parts: Omit<BackupNameParts, 'encrypted'>): string {
  return parts.label ? `${parts.prefix}-${parts.label}-${parts.stamp}` : `${parts.prefix}-${parts.stamp}`;
}

export function backupFileName(parts: BackupNameParts): string {
  return `${backupStem(parts)}${DUMP_SUFFIX}${parts.encrypted ? ENCRYPTED_SUFFIX : ''}`;
}

export function manifestFileName(stem: string): string {
  return `${stem}${MANIFEST_SUFFIX}`;
}

/** The manifest that belongs beside a data key, or undefined when the key is not a backup's data. */
export function manifestKeyFor(dataKey: string): string | undefined {
  for (const suffix of [DUMP_SUFFIX + ENCRYPTED_SUFFIX, DUMP_SUFFIX]) {
    if (dataKey.endsWith(suffix)) return dataKey.slice(0, -suffix.length) + MANIFEST_SUFFIX;
  }
  return undefined;
}
