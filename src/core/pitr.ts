// Point-in-time recovery through pgBackRest, the pure part: the configuration file pgBackRest reads,
// the archive_command that feeds it, and what a server's settings lack (docs/pitr.md).

/** pgBackRest's repository: a folder, or a prefix in an S3 bucket reached over https. */
export type PgBackRestRepo =
  | { type: 'posix'; path: string }
  | {
      type: 's3';
      /** https://host[:port] */
      endpoint: string;
      bucket: string;
      region: string;
      /** The repository's folder in the bucket, without slashes at either end. */
      prefix: string;
      forcePathStyle: boolean;
      verifyTls: boolean;
      caFile?: string;
      accessKeyId?: string;
      secretAccessKey?: string;
    };

/** What the configuration file is made of: our settings, without anything read from disk. */
export interface PgBackRestSettings {
  stanza: string;
  pgData: string;
  pgPort: number;
  /** The server's socket folder (pg1-socket-path); pgBackRest connects through it as the OS user. */
  pgSocketPath?: string;
  repo: PgBackRestRepo;
  cipherPass?: string;
  archiveTimeoutSeconds: number;
  /** Where the stanza's lock, log and spool folders go (private to it). */
  stateDir: string;
}

/** The file and folders of one stanza under PITR_CONFIG_DIR. */
export function stanzaPaths(configDir: string, stanza: string): { configFile: string; stateDir: string } {
  return { configFile: `${configDir}/${stanza}.conf`, stateDir: `${configDir}/${stanza}` };
}

/**
 * pgbackrest.conf for one stanza. The secrets (repository keys, cipher passphrase) are in it because
 * PostgreSQL's archive_command runs pgBackRest with the server's environment, not ours: the file is
 * written 0600 for the cluster's OS user, and no secret ever goes on a command line.
 */
export function pgBackRestConf(s: PgBackRestSettings): string {
  const lines = ['[global]', ...repoLines(s)];
  if (s.cipherPass) {
    assertOneLine(s.cipherPass, 'PITR_CIPHER_PASS');
    lines.push('repo1-cipher-type=aes-256-cbc', `repo1-cipher-pass=${s.cipherPass}`);
  }
  lines.push(
    'compress-type=zst',
    'start-fast=y',
    `archive-timeout=${Math.max(60, s.archiveTimeoutSeconds * 2)}`,
    `lock-path=${s.stateDir}/lock`,
    `log-path=${s.stateDir}/log`,
    `spool-path=${s.stateDir}/spool`,
    'log-level-console=warn',
    'log-level-stderr=warn',
    'log-level-file=info',
    '',
    `[${s.stanza}]`,
    `pg1-path=${s.pgData}`,
    `pg1-port=${s.pgPort}`,
    ...(s.pgSocketPath ? [`pg1-socket-path=${s.pgSocketPath}`] : []),
    '',
  );
  for (const line of lines) assertOneLine(line, 'a pgBackRest setting');
  return lines.join('\n');
}

function repoLines(s: PgBackRestSettings): string[] {
  const repo = s.repo;
  if (repo.type === 'posix') return ['repo1-type=posix', `repo1-path=${repo.path}`];
  const url = new URL(repo.endpoint);
  const lines = [
    'repo1-type=s3',
    `repo1-path=/${repo.prefix}`,
    `repo1-s3-endpoint=${url.hostname}`,
    `repo1-s3-bucket=${repo.bucket}`,
    `repo1-s3-region=${repo.region}`,
    `repo1-s3-uri-style=${repo.forcePathStyle ? 'path' : 'host'}`,
  ];
  if (url.port) lines.push(`repo1-storage-port=${url.port}`);
  if (!repo.verifyTls) lines.push('repo1-storage-verify-tls=n');
  if (repo.caFile) lines.push(`repo1-storage-ca-file=${repo.caFile}`);
  if (repo.accessKeyId && repo.secretAccessKey) {
    lines.push(`repo1-s3-key=${repo.accessKeyId}`, `repo1-s3-key-secret=${repo.secretAccessKey}`);
  } else {
    // No keys of ours: the instance's or the task's role, as the AWS SDK would find it.
    lines.push('repo1-s3-key-type=auto');
  }
  return lines;
}

/** A value with a line break would end its line and start a setting of its own. */
function assertOneLine(value: string, what: string): void {
  if (/[\r\n]/.test(value)) throw new Error(`${what} must be one line`);
}

/** The archive_command that hands each WAL segment to pgBackRest. */
export function archiveCommand(configFile: string, stanza: string): string {
  return `pgbackrest --config=${configFile} --stanza=${stanza} archive-push %p`;
}

/** The four settings `pitr setup` judges, as pg_settings gives them (archive_timeout in seconds). */
export interface ServerSettings {
  wal_level: string;
  archive_mode: string;
  archive_command: string;
  archive_timeout: number;
}

export interface SettingChange {
  name: keyof ServerSettings;
  current: string;
  wanted: string;
  /** wal_level and archive_mode take effect at a restart; the others at a reload. */
  needs: 'restart' | 'reload';
  why: string;
}

/** What the server must change for pgBackRest to archive its WAL within the archive timeout. */
export function judgeServerSettings(
  settings: ServerSettings,
  wanted: { archiveCommand: string; archiveTimeoutSeconds: number },
): SettingChange[] {
  const changes: SettingChange[] = [];
  if (!['replica', 'logical'].includes(settings.wal_level)) {
    changes.push({
      name: 'wal_level',
      current: settings.wal_level,
      wanted: 'replica',
      needs: 'restart',
      why: 'minimal WAL cannot be archived or replayed to a moment',
    });
  }
  if (!['on', 'always'].includes(settings.archive_mode)) {
    changes.push({
      name: 'archive_mode',
      current: settings.archive_mode,
      wanted: 'on',
      needs: 'restart',
      why: 'no WAL segment is archived while it is off',
    });
  }
  if (normalize(settings.archive_command) !== normalize(wanted.archiveCommand)) {
    changes.push({
      name: 'archive_command',
      current: settings.archive_command,
      wanted: wanted.archiveCommand,
      needs: 'reload',
      why: 'pgBackRest must receive each WAL segment, with this configuration file and stanza',
    });
  }
  if (settings.archive_timeout <= 0 || settings.archive_timeout > wanted.archiveTimeoutSeconds) {
    changes.push({
      name: 'archive_timeout',
      current: String(settings.archive_timeout),
      wanted: String(wanted.archiveTimeoutSeconds),
      needs: 'reload',
      why: `a quiet database switches WAL segments only this often: the RPO is at least this many seconds`,
    });
  }
  return changes;
}

function normalize(command: string): string {
  return command.trim().replace(/\s+/g, ' ');
}

/** The postgresql.conf lines an operator adds (or ALTER SYSTEM SETs), then how to apply them. */
export function formatConfChanges(changes: SettingChange[]): string {
  const lines = changes.map(
    (c) => `${c.name} = ${confValue(c)}\t# now ${c.current === '' ? '(empty)' : c.current}: ${c.why}`,
  );
  const restart = changes.some((c) => c.needs === 'restart');
  lines.push(
    restart
      ? 'then restart PostgreSQL (wal_level and archive_mode take effect only at a restart)'
      : 'then reload PostgreSQL (SELECT pg_reload_conf())',
  );
  return lines.join('\n');
}

function confValue(change: SettingChange): string {
  if (change.name === 'archive_timeout') return `${change.wanted}s`;
  return `'${change.wanted.replace(/'/g, "''")}'`;
}
