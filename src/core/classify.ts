import { localTimeParts } from './naming.js';

export const BACKUP_KINDS = ['daily', 'weekly', 'monthly', 'pre-upgrade'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

/**
 * The guide's classification: monthly on the 1st, weekly on Sunday, daily otherwise, read on the
 * wall clock of the configured time zone. A labeled backup is a pre-upgrade backup whatever the date.
 * Monthly wins over weekly when the 1st is a Sunday, because it is kept longest.
 */
export function classifyBackup(instant: Date, timeZone: string, label?: string): BackupKind {
  if (label) return 'pre-upgrade';
  const t = localTimeParts(instant, timeZone);
  if (t.day === 1) return 'monthly';
  if (t.weekday === 0) return 'weekly';
  return 'daily';
}

export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'GLACIER',
  'GLACIER_IR',
  'DEEP_ARCHIVE',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** The guide's retention table: daily STANDARD, weekly STANDARD_IA, monthly GLACIER. */
export const DEFAULT_STORAGE_CLASSES: Record<BackupKind, StorageClass> = {
  daily: 'STANDARD',
  weekly: 'STANDARD_IA',
  monthly: 'GLACIER',
  'pre-upgrade': 'STANDARD',
};
