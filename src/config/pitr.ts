import { resolve } from 'node:path';
import { configError } from '../core/errors.js';
import type { Values } from './sections.js';
import type { Config, PitrConfig, PitrRepo, S3Config } from './types.js';

// PITR=pgbackrest and its settings (docs/pitr.md): the repository on a path or in our bucket over https.

const PITR_ONLY = [
  'PITR_STANZA',
  'PITR_PG_DATA',
  'PITR_REPO_PATH',
  'PITR_REPO_S3_PREFIX',
  'PITR_S3_ENDPOINT',
  'PITR_S3_CA_FILE',
  'PITR_CIPHER_PASS',
] as const;

export function pitrConfig(v: Values, s3: S3Config | undefined): PitrConfig | undefined {
  if (v.PITR === 'none') {
    const set = PITR_ONLY.find((name) => v[name] !== undefined);
    if (set) throw configError(`PITR: ${set} is set but PITR is none; set PITR=pgbackrest or remove ${set}`);
    return undefined;
  }
  const stanza = v.PITR_STANZA ?? defaultStanza(v.DB_NAME);
  return {
    engine: 'pgbackrest',
    stanza,
    pgData: v.PITR_PG_DATA,
    pgUser: v.PITR_PG_USER,
    configDir: resolve(v.PITR_CONFIG_DIR),
    repo: pitrRepo(v, s3, stanza),
    cipherPass: v.PITR_CIPHER_PASS || undefined,
    archiveTimeoutSeconds: v.PITR_ARCHIVE_TIMEOUT_SECONDS,
    rpoTargetSeconds: v.RPO_TARGET_SECONDS,
    schedules: {
      fullCron: v.PITR_FULL_SCHEDULE,
      diffCron: v.PITR_DIFF_SCHEDULE,
      drillCron: v.PITR_DRILL_SCHEDULE,
    },
  };
}

/** PITR_STANZA defaults to DB_NAME, made safe for a stanza name. */
export function defaultStanza(databaseName: string): string {
  const safe = databaseName.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '');
  return safe || 'db';
}

function pitrRepo(v: Values, s3: S3Config | undefined, stanza: string): PitrRepo {
  if (v.PITR_REPO_PATH) {
    if (v.PITR_REPO_S3_PREFIX)
      throw configError('PITR_REPO_PATH: set either PITR_REPO_PATH or PITR_REPO_S3_PREFIX, not both');
    return { type: 'posix', path: resolve(v.PITR_REPO_PATH) };
  }
  if (!s3) {
    throw configError(
      'PITR_REPO_PATH: PITR=pgbackrest needs a repository: PITR_REPO_PATH, or S3_BUCKET for one in the bucket',
    );
  }
  const endpoint = v.PITR_S3_ENDPOINT ?? s3.endpoint;
  if (endpoint !== undefined && !endpoint.startsWith('https:')) {
    throw configError(
      `PITR_S3_ENDPOINT: pgBackRest reaches S3 over https only, and S3_ENDPOINT is ${endpoint}`,
      'set PITR_S3_ENDPOINT to the https address of the same store',
    );
  }
  return {
    type: 's3',
    endpoint: (endpoint ?? `https://s3.${s3.region}.amazonaws.com`).replace(/\/+$/, ''),
    bucket: s3.bucket,
    region: s3.region,
    prefix: v.PITR_REPO_S3_PREFIX ?? `pgbackrest/${stanza}`,
    forcePathStyle: s3.forcePathStyle,
    verifyTls: v.PITR_S3_VERIFY_TLS,
    caFile: v.PITR_S3_CA_FILE ? resolve(v.PITR_S3_CA_FILE) : undefined,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
  };
}

/** Production's gates for PITR: an encrypted repository, and TLS that is verified. */
export function checkPitrProductionGates(config: Config): void {
  const pitr = config.pitr;
  if (config.environment !== 'production' || !pitr) return;
  if (!pitr.cipherPass) {
    throw configError(
      'PITR_CIPHER_PASS: production WAL archives and physical backups must be encrypted; set PITR_CIPHER_PASS_FILE',
    );
  }
  if (pitr.repo.type === 's3' && !pitr.repo.verifyTls) {
    throw configError(
      "PITR_S3_VERIFY_TLS: production must verify the store's certificate; set PITR_S3_CA_FILE for a private CA",
    );
  }
}
