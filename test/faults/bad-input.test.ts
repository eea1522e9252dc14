import { writeFileSync } from 'node:fs';
import { Runtime } from '@temporalio/worker';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backupctl, expectOneLineError, installedBackupctl, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints } from '../helpers/postgres.js';
import { testEnv, uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// Fault 9: bad input wherever a user types. Each case gets one `error:` line naming what was wrong
// (and perhaps a `hint:` line), the exit code of the guide's table, and no stack trace. Cases that
// test/integration/exit-codes.test.ts already covers (DB_PORT, a missing DB_NAME, an env file line
// without `=`, /etc/hostname as a public key, an unknown command) are not repeated here.

const dir = tempDir('fault-input');
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const missing = join(dir, 'no-such-file');

interface Case {
  what: string;
  args: string[];
  env?: Record<string, string>;
  /** Through the installed command's #! line rather than `node main.js`. */
  installed?: boolean;
  code: number;
  message: RegExp;
}

const quote = (path: string) => path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const CASES: Case[] = [
  {
    what: 'an unknown global flag',
    args: ['--confg', 'databases.yaml', 'list'],
    code: 3,
    message: /^error: unknown option '--confg' \(Did you mean --config\?\)$/,
  },
  {
    what: 'an unknown flag of a subcommand',
    args: ['restore', '--latest', '--tabel', 'users'],
    code: 3,
    message: /^error: unknown option '--tabel' \(Did you mean --table\?\)$/,
  },
  {
    what: 'a missing --env-file, run as the installed command (node reads that flag too)',
    args: ['--env-file', missing, 'backup'],
    installed: true,
    code: 3,
    message: new RegExp(`^error: --env-file: ${quote(missing)}: no such file$`),
  },
  {
    what: 'an --env-file with an unterminated quote, run as the installed command',
    args: ['--env-file', file('quote.env', 'DB_HOST=localhost\nDB_PASSWORD="unterminated\n'), 'list'],
    installed: true,
    code: 3,
    message: /^error: .*quote\.env line 2: unterminated " quote$/,
  },
  {
    what: 'a missing --config',
    args: ['--config', missing, 'list'],
    code: 3,
    message: new RegExp(`^error: --config: ${quote(missing)}: no such file$`),
  },
  {
    what: 'a --config that is not YAML',
    args: ['--config', file('databases.yaml', 'databases:\n  app: [unclosed\n'), 'list'],
    code: 3,
    message: /^error: .*databases\.yaml: not valid YAML \(.+\)$/,
  },
  {
    what: 'a missing --use-list',
    args: ['restore', '--latest', '--use-list', missing],
    code: 3,
    message: new RegExp(`^error: --use-list: ${quote(missing)}: cannot be read$`),
  },
  {
    // The worker's keys decide (backupctl backup checks none of its own): it refuses to start.
    what: 'a missing GPG_PUBLIC_KEY_FILE, on the worker',
    args: ['worker'],
    env: { GPG_PUBLIC_KEY_FILE: missing },
    code: 3,
    message: new RegExp(`^error: GPG_PUBLIC_KEY_FILE: ${quote(missing)}: no such file$`),
  },
  {
    what: 'a GPG_PUBLIC_KEY_FILE armored like a key but not one, on the worker',
    args: ['worker'],
    env: {
      GPG_PUBLIC_KEY_FILE: file(
        'fake.asc',
        '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PUBLIC KEY BLOCK-----\n',
      ),
    },
    code: 3,
    message: /^error: GPG_PUBLIC_KEY_FILE: not a readable OpenPGP public key \(.+\)$/,
  },
  {
    // Checked when the worker starts, not when someone approves with a restore waiting.
    what: 'a RESTORE_APPROVER_KEYS file that is missing, on the worker',
    args: ['worker'],
    env: { RESTORE_ENABLED: 'true', RESTORE_APPROVER_KEYS: `alice=${missing}` },
    code: 3,
    message: new RegExp(`^error: RESTORE_APPROVER_KEYS: alice: ${quote(missing)} cannot be read$`),
  },
  {
    what: 'an --as-of in the wrong format',
    args: ['prune', '--dry-run', '--as-of', '15/03/2024'],
    code: 3,
    message: /^error: --as-of: "15\/03\/2024" is not an ISO 8601 date, such as 2024-03-15/,
  },
  {
    what: 'a --label with a space',
    args: ['backup', '--label', 'pre upgrade'],
    code: 3,
    message: /^error: --label: "pre upgrade" must be letters, digits, dot, dash or underscore$/,
  },
];

describe('bad input (fault 9)', () => {
  const env = testEnv({ DB_NAME: 'postgres', TEMPORAL_TASK_QUEUE: uniqueName('fault-input') });

  it.each(CASES)('$what: exit $code, one line', async ({ args, env: extra, installed, code, message }) => {
    const runEnv = { ...env, ...extra };
    const run = await (installed ? installedBackupctl(args, runEnv) : backupctl(args, runEnv));
    expectOneLineError(run, code, message);
  });
});

describe('bad input that only the worker can judge, and a name with quotes and spaces (fault 9)', () => {
  // DB_NAME may hold quotes and spaces: backups and restores of such a database must work.
  const database = uniqueName(`fault it's "quoted"`);
  const target = uniqueName(`restored "copy" it's`);
  let keyring: TestKeyring;
  let worker: TestWorker;

  beforeAll(async () => {
    await seedDatabase(database, 100);
    keyring = await createKeyring();
    worker = await startTestWorker('fault-input', {
      DB_NAME: database,
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await dropDatabase(database);
    await dropDatabase(target);
  });

  const restore = (args: string[], env = worker.env): Promise<CliRun> =>
    backupctl(['restore', ...args, '--force', '--wait'], env);

  it('backs up and restores a database whose name has quotes and spaces', async () => {
    const backup = await backupctl(['backup', '--wait'], worker.env);
    expect(backup.exitCode, backup.stderr).toBe(0);
    const restored = await restore(['--latest', '--target-db', target, '--create-db']);
    expect(restored.exitCode, restored.stderr).toBe(0);
    expect(await tableFingerprints(target)).toEqual(await tableFingerprints(database));
  });

  it('refuses an --s3-key outside S3_PREFIX: exit 3', async () => {
    const run = await restore([
      '--s3-key',
      '../elsewhere/app-backup-20240101-000000.dump.gpg',
      '--target-db',
      target,
    ]);
    expectOneLineError(
      run,
      3,
      /^error: --s3-key: "\.\.\/elsewhere\/.*" is not a backup file under S3_PREFIX/,
    );
  });

  it('refuses a missing --file: exit 4 (download failed), naming it', async () => {
    const path = join(missing, 'app-backup-20240101-000000.dump.gpg');
    const run = await restore(['--file', path, '--target-db', target]);
    expectOneLineError(run, 4, new RegExp(`^error: --file: ${quote(path)}: no manifest beside it`));
  });

  it('refuses a public key as GPG_PRIVATE_KEY_FILE: exit 3, and the worker says so when it starts', async () => {
    // The worker's own warnings go to the Runtime's logger (one line each, in LOG_FORMAT).
    const warnings = vi.spyOn(Runtime.instance().logger, 'warn');
    // A second worker, with the public key where the private one belongs, on the same backups.
    const wrong = await startTestWorker('fault-input-pub', {
      DB_NAME: database,
      BACKUP_DIR: worker.env.BACKUP_DIR,
      S3_PREFIX: worker.env.S3_PREFIX,
      GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
      GPG_PRIVATE_KEY_FILE: keyring.publicKeyFile,
    });
    try {
      const run = await restore(['--latest', '--target-db', target], wrong.env);
      expectOneLineError(
        run,
        3,
        /^error: GPG_PRIVATE_KEY_FILE: holds a public key only; restore needs the private key$/,
      );
      expect(warnings.mock.calls.map(([text]) => String(text))).toContain(
        'GPG_PRIVATE_KEY_FILE: holds a public key only; restore needs the private key; restores on this worker will fail until it is fixed',
      );
    } finally {
      warnings.mockRestore();
      await wrong.stop();
    }
  });
});
