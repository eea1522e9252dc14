import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// The attacks of someone who may start a workflow (backupctl, the client API, `temporal workflow
// start`) against the worker's restore path: each one refused by the worker's own settings, with the
// live database and every listening socket left as they were.

const database = uniqueName('policy');
const scratch = uniqueName('policy_new');
/** Sent by no one but the worker, and only to the real server (which trusts and never asks for it). */
const PASSWORD = `pw-${uniqueName('secret')}`;
let worker: TestWorker;

/** A TCP listener that records every byte it receives; `respond` may answer as a server would. */
interface Recorder {
  port: number;
  connections: number;
  received(): Buffer;
  close(): Promise<void>;
}

async function recorder(respond?: (socket: Socket, data: Buffer) => void): Promise<Recorder> {
  const chunks: Buffer[] = [];
  const state = { connections: 0 };
  const server: Server = createServer((socket) => {
    state.connections += 1;
    socket.on('data', (data) => {
      chunks.push(data);
      respond?.(socket, data);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    get connections() {
      return state.connections;
    },
    received: () => Buffer.concat(chunks),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Answers as PostgreSQL would to a client that may ask for TLS first ('N': none), then asks for the
 * password in clear text (AuthenticationCleartextPassword), as a server set to `password` does.
 */
function askForCleartextPassword(socket: Socket, data: Buffer): void {
  const isSslRequest = data.length === 8 && data.readInt32BE(4) === 80877103;
  if (isSslRequest) return void socket.write('N');
  const cleartextRequest = Buffer.alloc(9);
  cleartextRequest.write('R', 0);
  cleartextRequest.writeInt32BE(8, 1);
  cleartextRequest.writeInt32BE(3, 5);
  socket.write(cleartextRequest);
}

/** A dry run of the newest backup into 127.0.0.1:port: it plans, so it would connect to the target. */
const dryRunInto = (port: number, env: Record<string, string>) =>
  backupctl(
    [
      'restore',
      '--latest',
      '--target-host',
      '127.0.0.1',
      '--target-port',
      String(port),
      '--dry-run',
      '--wait',
    ],
    env,
  );

const liveRows = () =>
  withClient(database, async (c) => Number((await c.query('SELECT count(*) FROM users')).rows[0].count));

beforeAll(async () => {
  await seedDatabase(database, 200);
  const keyring = await createKeyring();
  worker = await startTestWorker('policy', {
    DB_NAME: database,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    DB_PASSWORD: PASSWORD,
    // Approvers named: --force is off unless RESTORE_ALLOW_FORCE says otherwise.
    RESTORE_APPROVERS: 'alice,bob',
  });
  const backup = await backupctl(['backup', '--wait'], worker.env);
  expect(backup.exitCode, backup.stderr).toBe(0);
  // Written after the backup: a restore over the live database would lose it.
  await withClient(database, (c) =>
    c.query(`INSERT INTO users (email) VALUES ('after-the-backup@example.com')`),
  );
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  for (const name of [database, scratch]) await dropDatabase(name);
});

describe('a restore request the worker does not allow', () => {
  it('to a host that is not in RESTORE_TARGET_HOSTS: refused, exit 3, and the host receives nothing', async () => {
    const listener = await recorder();
    try {
      const run = await dryRunInto(listener.port, worker.env);
      expectOneLineError(
        run,
        3,
        new RegExp(
          `^error: restore target 127\\.0\\.0\\.1:${listener.port} is not a server this worker may connect to`,
        ),
      );
      expect(listener.connections).toBe(0);
      expect(listener.received().length).toBe(0);
    } finally {
      await listener.close();
    }
  });

  it('with --force where approvers are named: refused, exit 3, and the live database keeps its rows', async () => {
    const before = await tableFingerprints(database);
    const run = await backupctl(['restore', '--latest', '--force', '--wait'], worker.env);
    expectOneLineError(run, 3, /^error: --force: this worker does not let a restore skip its approval/);
    expect(await tableFingerprints(database)).toEqual(before);
    expect(await liveRows()).toBe(201);
  });

  it('into a new database with --force: refused as well, and nothing is created', async () => {
    const run = await backupctl(
      ['restore', '--latest', '--target-db', scratch, '--create-db', '--force', '--wait'],
      worker.env,
    );
    expectOneLineError(run, 3, /^error: --force: /);
    const exists = await withClient('postgres', (c) =>
      c.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratch]),
    );
    expect(exists.rowCount).toBe(0);
  });

  it('with --force on a production worker, approvers or not: refused, exit 3, the live database unchanged', async () => {
    // The same backups (BACKUP_DIR), another worker: production, no approvers named, no bucket.
    const production = await startTestWorker('policy_prod', {
      DB_NAME: database,
      DB_PASSWORD: PASSWORD,
      BACKUP_DIR: worker.env.BACKUP_DIR,
      GPG_PUBLIC_KEY_FILE: worker.env.GPG_PUBLIC_KEY_FILE,
      GPG_PRIVATE_KEY_FILE: worker.env.GPG_PRIVATE_KEY_FILE,
      BACKUP_ENV: 'production',
      DB_SSLMODE: 'require',
      S3_ENDPOINT: '',
    });
    try {
      expect(production.config).toMatchObject({ environment: 'production', restore: { allowForce: false } });
      const before = await tableFingerprints(database);
      const run = await backupctl(['restore', '--latest', '--force', '--wait'], production.env);
      expectOneLineError(run, 3, /^error: --force: this worker does not let a restore skip its approval/);
      expect(await tableFingerprints(database)).toEqual(before);
      expect(await liveRows()).toBe(201);
    } finally {
      await production.stop();
    }
  });
});

describe('an allowed host that asks for the password in clear text', () => {
  it('gets no password: the worker refuses to send it', async () => {
    const impostor = await recorder(askForCleartextPassword);
    const allowed = await startTestWorker('policy-allowed', {
      DB_NAME: database,
      DB_PASSWORD: PASSWORD,
      BACKUP_DIR: worker.env.BACKUP_DIR,
      S3_PREFIX: worker.env.S3_PREFIX,
      GPG_PRIVATE_KEY_FILE: worker.env.GPG_PRIVATE_KEY_FILE,
      RESTORE_TARGET_HOSTS: `127.0.0.1:${impostor.port}`,
    });
    try {
      const run = await dryRunInto(impostor.port, allowed.env);
      expect(run.exitCode, run.stderr).not.toBe(0);
      expect(run.stderr).toContain('the server asked for the password in clear text; refused');
      // It was reached (the test would prove nothing otherwise), and heard no password.
      expect(impostor.connections).toBeGreaterThan(0);
      expect(impostor.received().includes(PASSWORD)).toBe(false);
    } finally {
      await allowed.stop();
      await impostor.close();
    }
  });
});
