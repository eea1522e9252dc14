import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { resolve } from 'node:path';
import { BackupError, configError } from '../core/errors.js';
import { parseApproverKeys } from '../core/restore/approval.js';
import { parseTargetHosts } from '../core/targets.js';
import { parseConfigFile } from './file.js';
import { parseEnvFile } from './env-file.js';
import { checkPitrProductionGates, pitrConfig } from './pitr.js';
import { PRIVATE_KEY_FILE_VARIABLES, SECRET_VARIABLES, envSchema } from './schema.js';
import { checkSecretFileModes, type SecretFile } from './secret-files.js';
import {
  approverList,
  checkProductionGates,
  compressionSetting,
  defaultPrefix,
  dockerContainer,
  s3Config,
  temporalConfig,
} from './sections.js';
import type { Config } from './types.js';

// The types live in types.ts; they are this module's too, as every caller imports them from here.
export type * from './types.js';

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** The guide's /etc/goimg/backup.env; variables in the environment win over the file's. */
  envFile?: string;
  /** Where a warning goes (a secret file others may read); `warning: ...` on stderr by default. */
  warn?: (message: string) => void;
}

const warnOnStderr = (message: string) => console.error(`warning: ${message}`);

/**
 * Every database to back up: those of a config file (--config, several databases; a database's
 * entries win over the environment), or the one the environment describes.
 */
/** BACKUP_SCHEDULE_JITTER_MINUTES when a --config file lists several databases and does not set it. */
export const SPREAD_JITTER_MINUTES = '5';

export function loadConfigs(options: LoadConfigOptions & { configFile?: string }): Config[] {
  if (!options.configFile) return [loadConfig(options)];
  const file = parseConfigFile(readTextFile(options.configFile, '--config'), options.configFile);
  const env = options.env ?? process.env;
  // Several databases share one schedule by default (02:00): spread their backups over a few minutes.
  const spread = file.databases.length > 1 ? { BACKUP_SCHEDULE_JITTER_MINUTES: SPREAD_JITTER_MINUTES } : {};
  // The databases share the env file and often secret files: each warning once.
  const warned = new Set<string>();
  const warn = (message: string) => {
    if (!warned.has(message)) (options.warn ?? warnOnStderr)(message);
    warned.add(message);
  };
  return file.databases.map((database) => {
    try {
      return loadConfig({ ...options, warn, env: { ...spread, ...env, ...database.variables } });
    } catch (error) {
      if (error instanceof BackupError)
        throw configError(`${options.configFile}: databases.${database.name}: ${error.message}`);
      throw error;
    }
  });
}

/** Reads, validates and types the configuration. Throws a Configuration BackupError naming the variable. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const fromEnvFile = readEnvFile(options.envFile);
  const merged = definedOnly({ ...fromEnvFile, ...(options.env ?? process.env) });
  const withSecrets = resolveSecretFiles(merged);
  checkSecretFileModes(
    secretFiles(merged, options.envFile, fromEnvFile),
    merged.BACKUP_ENV === 'production',
    options.warn ?? warnOnStderr,
  );
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
  const s3 = s3Config(v);
  const config: Config = {
    environment: v.BACKUP_ENV,
    debug: v.DEBUG,
    logFormat: v.LOG_FORMAT,
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
      compression: compressionSetting(v),
      retryAttempts: v.BACKUP_RETRY_ATTEMPTS,
    },
    s3,
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
      backupJitterMinutes: v.BACKUP_SCHEDULE_JITTER_MINUTES,
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
    maxConcurrent: {
      backups: v.WORKER_MAX_CONCURRENT_BACKUPS ?? availableParallelism(),
      restores: v.WORKER_MAX_CONCURRENT_RESTORES,
    },
    pitr: pitrConfig(v, s3),
  };
  checkProductionGates(config);
  checkPitrProductionGates(config);
  return config;
}

function readEnvFile(path: string | undefined): Record<string, string> {
  if (!path) return {};
  return parseEnvFile(readTextFile(path, '--env-file'), path);
}

/** The files that hold a secret: the env file when it sets one, every NAME_FILE, the private keys. */
function secretFiles(
  values: Record<string, string>,
  envFile: string | undefined,
  fromEnvFile: Record<string, string>,
): SecretFile[] {
  const named = [...SECRET_VARIABLES.map((name) => `${name}_FILE`), ...PRIVATE_KEY_FILE_VARIABLES]
    .filter((variable) => values[variable])
    .map((variable) => ({ variable, path: values[variable]! }));
  const holdsSecret = SECRET_VARIABLES.some((name) => fromEnvFile[name]);
  return envFile && holdsSecret ? [{ variable: '--env-file', path: envFile }, ...named] : named;
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
    config.pitr?.cipherPass,
  ].filter((s): s is string => typeof s === 'string' && s.length >= 4);
}
