// One error table: every failure the user can see has a kind, an exit code (the operations guide's
// tables), a default retryability and a hint. Pure, so workflows can read failure types too.

export const ERROR_KINDS = {
  General: { exitCode: 1, retryable: true, hint: 'see the worker log and the workflow history' },
  MissingDependency: { exitCode: 2, retryable: false, hint: 'run scripts/setup.sh to install the tools' },
  Configuration: { exitCode: 3, retryable: false, hint: 'fix the named variable or flag and run again' },
  DumpFailed: {
    exitCode: 4,
    retryable: true,
    hint: 'check DB_HOST, DB_PORT, DB_USER, DB_PASSWORD and DB_NAME',
  },
  EncryptionFailed: { exitCode: 5, retryable: false, hint: 'check GPG_PUBLIC_KEY_FILE or GPG_RECIPIENT' },
  UploadFailed: { exitCode: 6, retryable: true, hint: 'check S3_ENDPOINT, S3_BUCKET and the S3 credentials' },
  /** Another backup of the database is dumping: this one was refused before it wrote anything. */
  AlreadyRunning: {
    exitCode: 4,
    retryable: false,
    hint: 'wait for the running backup of this database to finish, then run again',
  },
  // The restore table of the guide: the same codes, other meanings.
  DownloadFailed: {
    exitCode: 4,
    retryable: true,
    hint: 'check the backup exists (backupctl list) and S3_ENDPOINT, S3_BUCKET and the credentials',
  },
  DecryptionFailed: {
    exitCode: 5,
    retryable: false,
    hint: 'check GPG_PRIVATE_KEY_FILE and GPG_PASSPHRASE: the key must be one the backup was encrypted to',
  },
  RestoreFailed: { exitCode: 6, retryable: true, hint: 'see the restore log in BACKUP_DIR/logs' },
  /**
   * A request the worker's own settings forbid (a target host it may not reach, --force where it is
   * off): refused before anything connects or is touched.
   */
  NotPermitted: {
    exitCode: 3,
    retryable: false,
    hint: "the worker's settings decide: RESTORE_TARGET_HOSTS, RESTORE_ALLOW_FORCE, RESTORE_APPROVERS",
  },
  /**
   * A backup whose manifest is not signed by a trusted key, or that contradicts itself (size, date,
   * encryption): refused before a byte of it reaches a database.
   */
  Untrusted: {
    exitCode: 4,
    retryable: false,
    hint: 'only backups signed by a key in BACKUP_TRUSTED_SIGNERS are read; see docs/security.md',
  },
  /** A restore that was rejected, or that nobody approved in time: nothing was touched. */
  NotApproved: { exitCode: 1, retryable: false, hint: 'start the restore again when it can be approved' },
} as const satisfies Record<string, { exitCode: number; retryable: boolean; hint: string }>;

export type ErrorKind = keyof typeof ERROR_KINDS;

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && Object.hasOwn(ERROR_KINDS, value);
}

export function exitCodeOf(kind: ErrorKind): number {
  return ERROR_KINDS[kind].exitCode;
}

export class BackupError extends Error {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly hint: string;

  constructor(
    kind: ErrorKind,
    message: string,
    options: { retryable?: boolean; hint?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = kind;
    this.kind = kind;
    this.retryable = options.retryable ?? ERROR_KINDS[kind].retryable;
    this.hint = options.hint ?? ERROR_KINDS[kind].hint;
  }
}

/**
 * A stored copy that is short, damaged or unreadable. The hint points at that copy's own place: a
 * bad file on this host is no matter of S3_ENDPOINT or of keys, which the kinds' hints would name.
 */
export function damagedCopyHint(onThisHost: boolean): string {
  return onThisHost
    ? 'the copy on this host is damaged or incomplete (S3 and the keys are not the cause): check the file and its disk, then restore from the other copy (--s3-key reads the remote one; backupctl list shows both)'
    : 'the copy in S3 is damaged or incomplete: restore from the other copy (--file reads the local one; backupctl list shows both), and take a new backup';
}

export const configError = (message: string, hint?: string) =>
  new BackupError('Configuration', message, { retryable: false, hint });

/**
 * A file system failure (a full disk, a lost mount) as a retryable error of the step's kind, saying
 * what was being done ("cannot write /path"): the next attempt may find the space freed. BackupErrors
 * stay as they are, and so does anything after an abort, which is no failure of the step.
 */
export function ioFailure(error: unknown, kind: ErrorKind, doing: string, signal?: AbortSignal): unknown {
  if (error instanceof BackupError || signal?.aborted) return error;
  if ((error as { code?: unknown }).code === 'ENOSPC') {
    return new BackupError(kind, `${doing}: no space left on device`, {
      retryable: true,
      hint: 'free space on that file system (df -h shows it), then run again',
    });
  }
  return new BackupError(kind, `${doing}: ${error instanceof Error ? error.message : String(error)}`, {
    retryable: true,
  });
}
