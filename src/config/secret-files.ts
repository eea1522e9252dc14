import { statSync } from 'node:fs';
import { configError } from '../core/errors.js';

/** A file that holds a secret, and the variable or flag that named it. */
export interface SecretFile {
  variable: string;
  path: string;
}

/**
 * Secret files that other users may read (a group or other read bit), warned about, or refused in
 * production. Only files this process's user owns are judged: for those `chmod 600` is the whole
 * fix. A file owned by another user is read through its group or other bits on purpose (a
 * root:durable-backup 0640 file, a Docker or Kubernetes secret mounted into a container), and its
 * owner protects it. Files that cannot be stat'ed are left to the reads that report them.
 */
export function checkSecretFileModes(
  files: SecretFile[],
  production: boolean,
  warn: (message: string) => void,
): void {
  const uid = process.getuid?.();
  for (const { variable, path } of files) {
    const stat = statOrUndefined(path);
    if (!stat || stat.uid !== uid || (stat.mode & 0o044) === 0) continue;
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    const problem = `${variable}: ${path} holds a secret and is readable by other users (mode ${mode})`;
    if (production) {
      throw configError(`${problem}; BACKUP_ENV=production refuses it`, `chmod 600 ${path}`);
    }
    warn(`${problem}; chmod 600 ${path}`);
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
