import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { BackupKind, StorageClass } from '../core/classify.js';
import type { ToolPlace } from '../core/command.js';
import { BackupError, configError } from '../core/errors.js';
import { parseApproverKeys } from '../core/restore/approval.js';
import { isEncryptedMode, parseTargetHosts, type SslMode, type TargetHost } from '../core/targets.js';
import { parseConfigFile } from './file.js';
import { parseEnvFile } from './env-file.js';
import { SECRET_VARIABLES, envSchema, storageClassesFrom } from './schema.js';

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

export interface Config {
  environment: 'development' | 'production' | 'test';
  debug: boolean;
  database: DatabaseConfig;
  backup: {
    dir: string;
    prefix: string;
    timeZone: string;
    compression: number;
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
    /** The DR drill: restore the newest backup into a scratch database (daily by default). */
    drillCron: string;
    /** The re-read of every retained backup (monthly by default). */
    rereadCron: string;
  };
  temporal: TemporalConfig;
  /** Names this machine's task queue: activities that share local files all run here. */
  workerHostId: string;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** The guide's /etc/goimg/backup.env; variables in the environment win over the file's. */
  envFile?: string;
}

/**
 * Every database to back up: those of a config file (--config, several databases; a database's
 * entries win over the environment), or the one the environment describes.
 */
export function loadConfigs(options: LoadConfigOptions & { configFile?: string }): Config[] {
  if (!options.configFile) return [loadConfig(options)];
  const file = parseConfigFile(readTextFile(options.configFile, '--config'), options.configFile);
  const env = options.env ?? process.env;
  return file.databases.map((database) => {
    try {
      return loadConfig({ ...options, env: { ...env, ...database.variables } });
    } catch (error) {
      if (error instanceof BackupError)
        throw configError(`${options.configFile}: databases.${database.name}: ${error.message}`);
      throw error;
    }
  });
}

/** Reads, validates and types the configuration. Throws a Configuration BackupError naming the variable. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const merged = definedOnly({ ...readEnvFile(options.envFile), ...(options.env ?? process.env) });
  const withSecrets = resolveSecretFiles(merged);
  const parsed = envSchema.safeParse(withSecrets);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'configuration');
    const message =
      issue.code === 'invalid_type' && withSecrets[variable] === undefined ? 'is required' : issue.message;
    throw configError(`${variable}: ${message}`);
  }
  const v = parsed.data;
  const approverKeys = v.RESTORE_APPROVER_KEYS ? parseApproverKeys(v.RESTORE_APPROVER_KEYS)! : [];
  const approvers = approverList(v.RESTORE_APPROVERS, approverKeys, v.RESTORE_MIN_APPROVALS);
  const config: Config = {
    environment: v.BACKUP_ENV,
    debug: v.DEBUG,
    database: {
      host: v.DB_HOST,
      port: v.DB_PORT,
      name: v.DB_NAME,
      user: v.DB_USER,
      password: v.DB_PASSWORD,
      sslMode: v.DB_SSLMODE,
      sslRootCert: readableFile(v.DB_SSLROOTCERT, 'DB_SSLROOTCERT'),
      dockerContainer: dockerContainer(v),
    },
    backup: {
      dir: resolve(v.BACKUP_DIR),
      prefix: v.BACKUP_PREFIX ?? defaultPrefix(v.DB_NAME),
      timeZone: v.BACKUP_TIMEZONE,
      compression: v.PG_DUMP_COMPRESSION,
      retryAttempts: v.BACKUP_RETRY_ATTEMPTS,
    },
    s3: s3Config(v),
    encryption: {
      recipient: v.GPG_RECIPIENT || undefined,
      publicKeyFile: v.GPG_PUBLIC_KEY_FILE || undefined,
    },
    signing: {
      keyFile: v.BACKUP_SIGNING_KEY_FILE || undefined,
      passphrase: v.BACKUP_SIGNING_PASSPHRASE || undefined,
      trustedSigners: (v.BACKUP_TRUSTED_SIGNERS ?? '')
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean),
    },
    restore: {
      enabled: v.RESTORE_ENABLED,
      privateKeyFile: v.GPG_PRIVATE_KEY_FILE || undefined,
      passphrase: v.GPG_PASSPHRASE || undefined,
      jobs: v.RESTORE_JOBS,
      approvers,
      approverKeys,
      minApprovals: v.RESTORE_MIN_APPROVALS,
      approverKeyPassphrase: v.APPROVER_KEY_PASSPHRASE || undefined,
      allowForce: v.RESTORE_ALLOW_FORCE ?? (v.BACKUP_ENV !== 'production' && approvers.length === 0),
      targetHosts: [
        { host: v.DB_HOST.toLowerCase(), port: v.DB_PORT },
        ...(v.RESTORE_TARGET_HOSTS ? parseTargetHosts(v.RESTORE_TARGET_HOSTS)! : []),
      ],
      approvalTimeoutMinutes: v.RESTORE_APPROVAL_TIMEOUT_MINUTES,
      thaw: {
        days: v.RESTORE_THAW_DAYS,
        tier: v.RESTORE_THAW_TIER,
        pollSeconds: v.RESTORE_THAW_POLL_SECONDS,
      },
      verifySqlFile: v.RESTORE_VERIFY_SQL_FILE || undefined,
      decrypter: v.RESTORE_DECRYPTER,
    },
    retention: {
      dailyDays: v.DAILY_RETENTION_DAYS,
      weeklyWeeks: v.WEEKLY_RETENTION_WEEKS,
      monthlyMonths: v.MONTHLY_RETENTION_MONTHS,
      keepNewest: v.RETENTION_KEEP_NEWEST,
    },
    schedules: {
      backupCron: v.BACKUP_SCHEDULE,
      retentionCron: v.RETENTION_SCHEDULE,
      timeZone: v.SCHEDULE_TIMEZONE ?? v.BACKUP_TIMEZONE,
      catchupWindowMinutes: v.SCHEDULE_CATCHUP_WINDOW_MINUTES,
      drillCron: v.DRILL_SCHEDULE,
      rereadCron: v.REREAD_SCHEDULE,
    },
    monitoring: {
      maxBackupAgeHours: v.HEALTH_MAX_AGE_HOURS,
      minFreeMb: v.HEALTH_MIN_FREE_MB,
      maxDrillAgeHours: v.DRILL_MAX_AGE_HOURS,
      rtoTargetMinutes: v.RTO_TARGET_MINUTES,
      metricsPort: v.METRICS_PORT,
      temporalMetricsPort: v.TEMPORAL_METRICS_PORT,
      webhookUrl: v.NOTIFY_WEBHOOK_URL || undefined,
    },
    temporal: temporalConfig(v),
    workerHostId: v.WORKER_HOST_ID ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-'),
  };
  checkProductionGates(config);
  return config;
}

type Values = ReturnType<typeof envSchema.parse>;

function s3Config(v: Values): S3Config | undefined {
  if (!v.S3_BUCKET) {
    for (const name of ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const) {
      if (v[name]) throw configError(`S3_BUCKET: is required when ${name} is set`);
    }
    return undefined;
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v.S3_BUCKET)) {
    throw configError('S3_BUCKET: not a valid bucket name (3-63 lowercase letters, digits, dots, dashes)');
  }
  if (Boolean(v.S3_ACCESS_KEY) !== Boolean(v.S3_SECRET_KEY)) {
    throw configError(
      `${v.S3_ACCESS_KEY ? 'S3_SECRET_KEY' : 'S3_ACCESS_KEY'}: is required with the other S3 key`,
    );
  }
  return {
    endpoint: v.S3_ENDPOINT,
    bucket: v.S3_BUCKET,
    region: v.S3_REGION,
    prefix: v.S3_PREFIX,
    forcePathStyle: v.S3_FORCE_PATH_STYLE,
    accessKeyId: v.S3_ACCESS_KEY || undefined,
    secretAccessKey: v.S3_SECRET_KEY || undefined,
    storageClasses: v.S3_STORAGE_CLASSES ? storageClassesFrom(v) : undefined,
  };
}

/**
 * RESTORE_APPROVERS, or the names of RESTORE_APPROVER_KEYS when it is unset: with keys, every approver
 * needs one; and there must be enough of them for RESTORE_MIN_APPROVALS.
 */
function approverList(list: string | undefined, keys: { name: string }[], minApprovals: number): string[] {
  const named = (list ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const keyNames = keys.map((k) => k.name);
  const approvers = named.length > 0 ? named : keyNames;
  const keyless = keys.length > 0 ? approvers.find((name) => !keyNames.includes(name)) : undefined;
  if (keyless) throw configError(`RESTORE_APPROVERS: ${keyless} has no key in RESTORE_APPROVER_KEYS`);
  if (approvers.length > 0 && approvers.length < minApprovals) {
    throw configError(
      `RESTORE_MIN_APPROVALS: ${minApprovals} distinct approvers cannot come from ${approvers.length} names (RESTORE_APPROVERS)`,
    );
  }
  return approvers;
}

/** USE_DOCKER runs the client tools in DOCKER_CONTAINER, which it therefore needs. */
function dockerContainer(v: Values): string | undefined {
  if (!v.USE_DOCKER) return undefined;
  if (!v.DOCKER_CONTAINER) {
    throw configError(
      'DOCKER_CONTAINER: is required when USE_DOCKER is true',
      'name the container the database runs in, as `docker ps` shows it',
    );
  }
  return v.DOCKER_CONTAINER;
}

function temporalConfig(v: Values): TemporalConfig {
  const tlsFiles = {
    certFile: v.TEMPORAL_TLS_CERT_FILE || undefined,
    keyFile: v.TEMPORAL_TLS_KEY_FILE || undefined,
    caFile: v.TEMPORAL_TLS_CA_FILE || undefined,
    serverName: v.TEMPORAL_TLS_SERVER_NAME || undefined,
  };
  if (Boolean(tlsFiles.certFile) !== Boolean(tlsFiles.keyFile)) {
    throw configError(
      'TEMPORAL_TLS_CERT_FILE: mTLS needs both TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE',
    );
  }
  // An API key or a client certificate only makes sense over TLS, so either turns it on.
  const tls = v.TEMPORAL_TLS || Boolean(tlsFiles.certFile) || Boolean(v.TEMPORAL_API_KEY);
  return {
    address: v.TEMPORAL_ADDRESS,
    namespace: v.TEMPORAL_NAMESPACE,
    taskQueue: v.TEMPORAL_TASK_QUEUE,
    uiUrl: v.TEMPORAL_UI_URL.replace(/\/$/, ''),
    tls: tls ? tlsFiles : undefined,
    apiKey: v.TEMPORAL_API_KEY || undefined,
  };
}

/** BACKUP_PREFIX defaults to <DB_NAME>-backup, made safe for a file name. */
function defaultPrefix(databaseName: string): string {
  const safe = databaseName.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return `${safe || 'db'}-backup`;
}

/** The guide's gate S9-PROD-003: production backups are encrypted, and never cross plain HTTP. */
function checkProductionGates(config: Config): void {
  if (config.environment !== 'production') return;
  if (!config.encryption.publicKeyFile && !config.encryption.recipient) {
    throw configError(
      'GPG_PUBLIC_KEY_FILE: production backups must be encrypted (gate S9-PROD-003); set it or GPG_RECIPIENT',
    );
  }
  if (!isEncryptedMode(config.database.sslMode)) {
    throw configError(
      `DB_SSLMODE: production connections to PostgreSQL must be encrypted; set require, verify-ca or verify-full (it is ${config.database.sslMode})`,
    );
  }
  if (config.restore.allowForce) {
    throw configError('RESTORE_ALLOW_FORCE: production restores must be approved; --force cannot be allowed');
  }
  if (config.s3?.endpoint?.startsWith('http:')) {
    throw configError('S3_ENDPOINT: production backups must not travel over plain HTTP; use https://');
  }
}

function readEnvFile(path: string | undefined): Record<string, string> {
  if (!path) return {};
  return parseEnvFile(readTextFile(path, '--env-file'), path);
}

/** An empty variable counts as unset, as Compose and systemd often pass them. */
function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => Boolean(entry[1])),
  );
}

/** Every secret may come from a file instead (NAME_FILE), as Docker and systemd credentials provide them. */
function resolveSecretFiles(values: Record<string, string>): Record<string, string> {
  const resolved = { ...values };
  for (const name of SECRET_VARIABLES) {
    const file = values[`${name}_FILE`];
    if (!file) continue;
    if (values[name]) throw configError(`${name}: set either ${name} or ${name}_FILE, not both`);
    resolved[name] = readTextFile(file, `${name}_FILE`).replace(/\r?\n$/, '');
  }
  return resolved;
}

/** An optional file the worker reads later (per connection): checked now, so a typo fails at start. */
function readableFile(path: string | undefined, variable: string): string | undefined {
  if (!path) return undefined;
  readTextFile(path, variable);
  return resolve(path);
}

export function readTextFile(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot be read';
    throw configError(`${variable}: ${path}: ${reason}`);
  }
}

/** The values that must never appear in a log line, an error message or a workflow history. */
export function secretsOf(config: Config): string[] {
  return [
    config.database.password,
    config.s3?.secretAccessKey,
    config.s3?.accessKeyId,
    config.temporal.apiKey,
    config.restore.passphrase,
    config.restore.approverKeyPassphrase,
    config.signing.passphrase,
    config.monitoring.webhookUrl,
  ].filter((s): s is string => typeof s === 'string' && s.length >= 4);
}
