import { z } from 'zod';
import {
  BACKUP_KINDS,
  DEFAULT_STORAGE_CLASSES,
  STORAGE_CLASSES,
  type BackupKind,
  type StorageClass,
} from '../core/classify.js';
import { DOCKER_CONTAINER_NAME } from '../core/command.js';
import { COMPRESSION_SYNTAX, parseCompression } from '../core/compression.js';
import { isValidPrefix, isValidTimeZone } from '../core/naming.js';
import { parseApproverKeys } from '../core/restore/approval.js';
import { SSL_MODES, parseTargetHosts } from '../core/targets.js';
import { DEFAULT_TASK_QUEUE } from '../temporal/names.js';

// Every variable the program reads, with its default, in one place. docs/configuration.md lists them.

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' })
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'expected a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );
const text = z.string().min(1, { error: 'must not be empty' });
/** Five cron fields, as Temporal Schedules take them (minute hour day-of-month month day-of-week). */
const cron = z
  .string()
  .trim()
  .regex(/^([^\s#]+\s+){4}[^\s#]+$/, {
    error: 'expected a cron expression of five fields, such as "0 2 * * *" (no # comments)',
  });

export const SECRET_VARIABLES = [
  'DB_PASSWORD',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'TEMPORAL_API_KEY',
  'GPG_PASSPHRASE',
  'BACKUP_SIGNING_PASSPHRASE',
  'NOTIFY_WEBHOOK_URL',
  'APPROVER_KEY_PASSPHRASE',
  'PITR_CIPHER_PASS',
] as const;

/** Variables that name a file holding a private key: as secret as the values above. */
export const PRIVATE_KEY_FILE_VARIABLES = [
  'GPG_PRIVATE_KEY_FILE',
  'BACKUP_SIGNING_KEY_FILE',
  'TEMPORAL_TLS_KEY_FILE',
] as const;

export const envSchema = z.object({
  BACKUP_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DEBUG: bool.default(false),
  LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'expected json or pretty' }).default('json'),

  DB_HOST: text.default('localhost'),
  DB_PORT: int(1, 65535).default(5432),
  DB_NAME: text,
  DB_USER: text.default('postgres'),
  DB_PASSWORD: z.string().optional(),
  DB_SSLMODE: z.enum(SSL_MODES, { error: `expected one of ${SSL_MODES.join(', ')}` }).default('prefer'),
  DB_SSLROOTCERT: z.string().optional(),
  USE_DOCKER: bool.default(false),
  DOCKER_CONTAINER: z
    .string()
    .regex(DOCKER_CONTAINER_NAME, {
      error: 'not a container name (a letter or digit, then letters, digits, _ . or -)',
    })
    .optional(),

  BACKUP_DIR: text.default('/var/backups/postgres'),
  BACKUP_PREFIX: z
    .string()
    .refine(isValidPrefix, { error: 'use letters, digits, dot, dash or underscore' })
    .optional(),
  BACKUP_TIMEZONE: z.string().refine(isValidTimeZone, { error: 'not a known IANA time zone' }).default('UTC'),
  /** zstd[:LEVEL] (zstd:3 when unset), gzip[:LEVEL] or none; see compressionSetting. */
  BACKUP_COMPRESSION: z
    .string()
    .refine((text) => parseCompression(text) !== undefined, { error: COMPRESSION_SYNTAX })
    .optional(),
  /** Before BACKUP_COMPRESSION: pg_dump's own level, the same as gzip:LEVEL (0: none). */
  PG_DUMP_COMPRESSION: int(0, 9).optional(),

  S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  S3_BUCKET: z.string().optional(),
  S3_REGION: text.default('us-east-1'),
  S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9._-]+\/)*$/, {
      error: 'expected folder names ending in /, such as postgres-backups/',
    })
    .default('postgres-backups/'),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY: z.string().optional(),
  S3_SECRET_KEY: z.string().optional(),
  S3_STORAGE_CLASSES: bool.default(true),
  ...storageClassVariables(),

  GPG_RECIPIENT: z.string().optional(),
  GPG_PUBLIC_KEY_FILE: z.string().optional(),
  GPG_PRIVATE_KEY_FILE: z.string().optional(),
  GPG_PASSPHRASE: z.string().optional(),
  BACKUP_SIGNING_KEY_FILE: z.string().optional(),
  BACKUP_SIGNING_PASSPHRASE: z.string().optional(),
  BACKUP_TRUSTED_SIGNERS: z.string().optional(),

  RESTORE_ENABLED: bool.default(true),
  RESTORE_JOBS: int(1, 64).default(2),
  RESTORE_APPROVERS: z.string().optional(),
  RESTORE_ALLOW_FORCE: bool.optional(),
  RESTORE_APPROVER_KEYS: z
    .string()
    .refine((list) => parseApproverKeys(list) !== undefined, {
      error: 'expected name=/path/to/public-key.asc entries separated by commas, each name once',
    })
    .optional(),
  RESTORE_MIN_APPROVALS: int(1, 10).default(1),
  /** The CLI's: unlocks the key of backupctl approve/reject --sign-with. */
  APPROVER_KEY_PASSPHRASE: z.string().optional(),
  RESTORE_TARGET_HOSTS: z
    .string()
    .refine((list) => parseTargetHosts(list) !== undefined, {
      error: 'expected host or host:port entries separated by commas, such as db1,db2:5433',
    })
    .optional(),
  RESTORE_APPROVAL_TIMEOUT_MINUTES: int(1, 30 * 24 * 60).default(24 * 60),
  RESTORE_THAW_DAYS: int(1, 365).default(1),
  RESTORE_THAW_TIER: z
    .enum(['Expedited', 'Standard', 'Bulk'], { error: 'expected Expedited, Standard or Bulk' })
    .default('Standard'),
  RESTORE_THAW_POLL_SECONDS: int(1, 24 * 60 * 60).default(15 * 60),
  RESTORE_VERIFY_SQL_FILE: z.string().optional(),
  RESTORE_DECRYPTER: z
    .enum(['auto', 'gpg', 'openpgp'], { error: 'expected auto, gpg or openpgp' })
    .default('auto'),

  DAILY_RETENTION_DAYS: int(1, 3650).default(7),
  WEEKLY_RETENTION_WEEKS: int(0, 520).default(4),
  MONTHLY_RETENTION_MONTHS: int(0, 240).default(6),

  TEMPORAL_ADDRESS: text.default('localhost:7233'),
  TEMPORAL_NAMESPACE: text.default('default'),
  TEMPORAL_TASK_QUEUE: text.default(DEFAULT_TASK_QUEUE),
  TEMPORAL_UI_URL: z.url({ error: 'expected a URL' }).default('http://localhost:8233'),
  TEMPORAL_TLS: bool.default(false),
  TEMPORAL_TLS_CERT_FILE: z.string().optional(),
  TEMPORAL_TLS_KEY_FILE: z.string().optional(),
  TEMPORAL_TLS_CA_FILE: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
  TEMPORAL_API_KEY: z.string().optional(),
  WORKER_HOST_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { error: 'use letters, digits, dot, dash or underscore' })
    .optional(),
  BACKUP_RETRY_ATTEMPTS: int(1, 100).default(5),
  WORKER_MAX_CONCURRENT_BACKUPS: int(1, 1000).optional(),
  WORKER_MAX_CONCURRENT_RESTORES: int(1, 100).default(1),

  BACKUP_SCHEDULE: cron.default('0 2 * * *'),
  RETENTION_SCHEDULE: cron.default('0 3 * * 0'),
  SCHEDULE_TIMEZONE: z.string().refine(isValidTimeZone, { error: 'not a known IANA time zone' }).optional(),
  SCHEDULE_CATCHUP_WINDOW_MINUTES: int(1, 7 * 24 * 60).default(60),
  BACKUP_SCHEDULE_JITTER_MINUTES: int(0, 24 * 60).default(0),
  RETENTION_KEEP_NEWEST: int(1, 1000).default(3),

  HEALTH_MAX_AGE_HOURS: int(1, 24 * 366).default(30),
  HEALTH_MIN_FREE_MB: int(0, 1024 * 1024 * 1024).default(1024),
  DRILL_SCHEDULE: cron.default('0 4 * * *'),
  DRILL_MAX_AGE_HOURS: int(1, 24 * 366).default(30),
  RTO_TARGET_MINUTES: int(1, 7 * 24 * 60).default(30),
  REREAD_SCHEDULE: cron.default('0 5 1 * *'),
  METRICS_PORT: int(0, 65535).default(9464),
  TEMPORAL_METRICS_PORT: int(0, 65535).default(9465),
  NOTIFY_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),

  // Point-in-time recovery through pgBackRest (docs/pitr.md): off unless PITR=pgbackrest.
  PITR: z.enum(['none', 'pgbackrest'], { error: 'expected none or pgbackrest' }).default('none'),
  PITR_STANZA: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'use letters, digits, dot, dash or underscore' })
    .optional(),
  PITR_PG_DATA: z.string().regex(/^\//, { error: 'expected an absolute path' }).optional(),
  PITR_PG_USER: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, { error: 'expected an operating system user name' })
    .default('postgres'),
  PITR_CONFIG_DIR: z
    .string()
    .regex(/^\//, { error: 'expected an absolute path' })
    .default('/var/lib/durable-backup/pgbackrest'),
  PITR_REPO_PATH: z.string().regex(/^\//, { error: 'expected an absolute path' }).optional(),
  PITR_REPO_S3_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, {
      error: 'expected folder names separated by /, such as pgbackrest/app',
    })
    .optional(),
  PITR_S3_ENDPOINT: z.url({ protocol: /^https$/, error: 'expected an https URL' }).optional(),
  PITR_S3_VERIFY_TLS: bool.default(true),
  PITR_S3_CA_FILE: z.string().optional(),
  PITR_CIPHER_PASS: z.string().min(20, { error: 'must be at least 20 characters' }).optional(),
  PITR_ARCHIVE_TIMEOUT_SECONDS: int(1, 3600).default(60),
  RPO_TARGET_SECONDS: int(1, 7 * 24 * 60 * 60).default(300),
  PITR_FULL_SCHEDULE: cron.default('0 1 * * 0'),
  PITR_DIFF_SCHEDULE: cron.default('0 1 * * 1-6'),
  PITR_DRILL_SCHEDULE: cron.default('30 4 * * *'),
});

function storageClassVariables() {
  const storageClass = z.enum(STORAGE_CLASSES, { error: `expected one of ${STORAGE_CLASSES.join(', ')}` });
  return Object.fromEntries(
    BACKUP_KINDS.map((kind) => [
      storageClassVariable(kind),
      storageClass.default(DEFAULT_STORAGE_CLASSES[kind]),
    ]),
  ) as Record<`S3_STORAGE_CLASS_${string}`, z.ZodDefault<typeof storageClass>>;
}

export function storageClassVariable(kind: BackupKind): string {
  return `S3_STORAGE_CLASS_${kind.toUpperCase().replace('-', '_')}`;
}

export type EnvValues = z.infer<typeof envSchema>;

export function storageClassesFrom(values: Record<string, unknown>): Record<BackupKind, StorageClass> {
  return Object.fromEntries(BACKUP_KINDS.map((kind) => [kind, values[storageClassVariable(kind)]])) as Record<
    BackupKind,
    StorageClass
  >;
}
