import type { BackupKind, StorageClass } from '../core/classify.js';
import type { ToolPlace } from '../core/command.js';
import type { CompressionSetting } from '../core/compression.js';
import type { PgBackRestRepo } from '../core/pitr.js';
import type { SslMode, TargetHost } from '../core/targets.js';

// The configuration as the program uses it, typed and grouped: what loadConfig makes of the variables.

export interface DatabaseConfig extends ToolPlace {
  host: string;
  port: number;
  name: string;
  user: string;
  password?: string;
  /** libpq's sslmode, for the tools (PGSSLMODE) and the worker's own connection alike. */
  sslMode: SslMode;
  /** The CA certificates verify-ca and verify-full check the server against (PGSSLROOTCERT). */
  sslRootCert?: string;
}

export interface S3Config {
  endpoint?: string;
  bucket: string;
  region: string;
  prefix: string;
  forcePathStyle: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Undefined when the store has no storage classes (S3_STORAGE_CLASSES=false). */
  storageClasses?: Record<BackupKind, StorageClass>;
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  uiUrl: string;
  tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
  apiKey?: string;
}

export interface RestoreConfig {
  /** This worker takes restores (polls the restore queue); it needs the private key for encrypted backups. */
  enabled: boolean;
  privateKeyFile?: string;
  passphrase?: string;
  jobs: number;
  /** Who may approve or reject; empty means anyone. With approverKeys, the names that have a key. */
  approvers: string[];
  /** RESTORE_APPROVER_KEYS: each approver's public key file; approvals must then be signed. */
  approverKeys: { name: string; keyFile: string }[];
  /** Distinct approvers needed before a restore goes on (four-eyes: 2). */
  minApprovals: number;
  /** The CLI's: unlocks the secret key of backupctl approve/reject --sign-with. */
  approverKeyPassphrase?: string;
  /** Whether --force may skip the approval: off in production, and wherever approvers are named. */
  allowForce: boolean;
  /** The servers a restore may connect to: DB_HOST:DB_PORT, and RESTORE_TARGET_HOSTS. */
  targetHosts: TargetHost[];
  approvalTimeoutMinutes: number;
  thaw: { days: number; tier: 'Expedited' | 'Standard' | 'Bulk'; pollSeconds: number };
  /** SQL checks run after every restore (the guide's tests/verify-data.sql). */
  verifySqlFile?: string;
  /** What decrypts backups: the gpg binary (about 3x faster), openpgp.js, or auto (gpg when it runs). */
  decrypter: 'auto' | 'gpg' | 'openpgp';
}

export interface SigningConfig {
  /** An armored OpenPGP private key that signs and cannot decrypt. */
  keyFile?: string;
  passphrase?: string;
  /** 40-hex fingerprints, or files of armored public keys; empty: this worker's own signing key. */
  trustedSigners: string[];
}

export interface MonitoringConfig {
  /** The newest complete backup must be younger than this (the guide's 30 h). */
  maxBackupAgeHours: number;
  minFreeMb: number;
  /** The newest successful drill must be younger than this. */
  maxDrillAgeHours: number;
  rtoTargetMinutes: number;
  /** The worker's /metrics (prom-client); 0 turns it off. */
  metricsPort: number;
  /** The Temporal SDK's own metrics (Runtime telemetry); 0 turns them off. */
  temporalMetricsPort: number;
  /** A JSON POST (Slack-compatible) on every failed run. */
  webhookUrl?: string;
}

/** PITR=pgbackrest: WAL archiving and physical backups through pgBackRest (docs/pitr.md). */
export interface PitrConfig {
  engine: 'pgbackrest';
  stanza: string;
  /** The cluster's data directory (pg1-path); undefined: the server's own data_directory. */
  pgData?: string;
  /** The cluster's operating system user: pgBackRest runs as it (through runuser when we are root). */
  pgUser: string;
  /** Holds <stanza>.conf (0600, with the repository's secrets) and the stanza's lock, log and spool folders. */
  configDir: string;
  repo: PitrRepo;
  /** PITR_CIPHER_PASS(_FILE): the repository is encrypted (aes-256-cbc) when set. */
  cipherPass?: string;
  archiveTimeoutSeconds: number;
  rpoTargetSeconds: number;
  schedules: { fullCron: string; diffCron: string; drillCron: string };
}

export type PitrRepo = PgBackRestRepo;

/** LOG_FORMAT: `json` for machines (one object per line), `pretty` for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

export interface Config {
  environment: 'development' | 'production' | 'test';
  debug: boolean;
  /** How the worker writes its log: one line per event either way. */
  logFormat: LogFormat;
  database: DatabaseConfig;
  backup: {
    dir: string;
    prefix: string;
    timeZone: string;
    /** BACKUP_COMPRESSION (or PG_DUMP_COMPRESSION): zstd as a stream stage, pg_dump's gzip, or none. */
    compression: CompressionSetting;
    retryAttempts: number;
  };
  s3?: S3Config;
  encryption: { recipient?: string; publicKeyFile?: string };
  /** Signed backups: the key this worker signs its manifests with, and whose signatures it trusts. */
  signing: SigningConfig;
  restore: RestoreConfig;
  monitoring: MonitoringConfig;
  retention: { dailyDays: number; weeklyWeeks: number; monthlyMonths: number; keepNewest: number };
  schedules: {
    backupCron: string;
    retentionCron: string;
    /** IANA zone the cron expressions are read in; BACKUP_TIMEZONE unless SCHEDULE_TIMEZONE says otherwise. */
    timeZone: string;
    catchupWindowMinutes: number;
    /** Each scheduled backup starts up to this many minutes late, at random: a wave is spread out. */
    backupJitterMinutes: number;
    /** The DR drill: restore the newest backup into a scratch database (daily by default). */
    drillCron: string;
    /** The re-read of every retained backup (monthly by default). */
    rereadCron: string;
  };
  temporal: TemporalConfig;
  /** Names this machine's task queue: activities that share local files all run here. */
  workerHostId: string;
  /**
   * How many backup dumps, and how many restore steps (fetch, the target's close-restore-verify-reopen,
   * a re-read), this host runs at once (Temporal worker slots): the rest wait in the task queue, not
   * in memory. With a config file, the first database's values count.
   */
  maxConcurrent: { backups: number; restores: number };
  /** Undefined unless PITR=pgbackrest. */
  pitr?: PitrConfig;
}
