import {
  DEFAULT_COMPRESSION,
  fromPgDumpLevel,
  parseCompression,
  type CompressionSetting,
} from '../core/compression.js';
import { configError } from '../core/errors.js';
import { isEncryptedMode } from '../core/targets.js';
import { envSchema, storageClassesFrom } from './schema.js';
import type { S3Config, TemporalConfig, Config } from './types.js';

// How each section of the configuration is built from the validated variables, and the rules
// between them (production's gates).

export type Values = ReturnType<typeof envSchema.parse>;

export function s3Config(v: Values): S3Config | undefined {
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
export function approverList(
  list: string | undefined,
  keys: { name: string }[],
  minApprovals: number,
): string[] {
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

/**
 * BACKUP_COMPRESSION, or the older PG_DUMP_COMPRESSION (pg_dump's own level: gzip at it, none for
 * 0), or zstd at level 3. Both at once would leave one of them ignored: refused.
 */
export function compressionSetting(v: Values): CompressionSetting {
  if (v.BACKUP_COMPRESSION !== undefined && v.PG_DUMP_COMPRESSION !== undefined) {
    throw configError(
      'PG_DUMP_COMPRESSION: set either BACKUP_COMPRESSION or PG_DUMP_COMPRESSION, not both',
      'PG_DUMP_COMPRESSION=N is BACKUP_COMPRESSION=gzip:N (none for 0): keep BACKUP_COMPRESSION',
    );
  }
  if (v.BACKUP_COMPRESSION !== undefined) return parseCompression(v.BACKUP_COMPRESSION)!;
  if (v.PG_DUMP_COMPRESSION !== undefined) return fromPgDumpLevel(v.PG_DUMP_COMPRESSION);
  return DEFAULT_COMPRESSION;
}

/** USE_DOCKER runs the client tools in DOCKER_CONTAINER, which it therefore needs. */
export function dockerContainer(v: Values): string | undefined {
  if (!v.USE_DOCKER) return undefined;
  if (!v.DOCKER_CONTAINER) {
    throw configError(
      'DOCKER_CONTAINER: is required when USE_DOCKER is true',
      'name the container the database runs in, as `docker ps` shows it',
    );
  }
  return v.DOCKER_CONTAINER;
}

export function temporalConfig(v: Values): TemporalConfig {
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
export function defaultPrefix(databaseName: string): string {
  const safe = databaseName.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return `${safe || 'db'}-backup`;
}

/** The guide's gate S9-PROD-003: production backups are encrypted, and never cross plain HTTP. */
export function checkProductionGates(config: Config): void {
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
