import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveRestore, rejectRestore, startRestore } from '../../src/client/index.js';
import { approvalStatement } from '../../src/core/restore/approval.js';
import type { RestoreStatus } from '../../src/core/restore/status.js';
import { approveSignal, restoreStatusQuery } from '../../src/temporal/names.js';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { failureOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, tableFingerprints, withClient } from '../helpers/postgres.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// The approval gate as an attacker meets it (anyone who reaches Temporal can send an update or a
// signal naming anyone): a refused approver, a decision after the end, a second decision, an unsigned
// or wrongly signed approval are each refused with a clear line, recorded, and the target untouched;
// signed approvals from enough distinct approvers go through.

const database = uniqueName('approvals');
const scratch = uniqueName('approvals_new');
const ALICE_PASSPHRASE = `alice-${uniqueName('pass')}`;
let plain: TestWorker;
let signed: TestWorker;
let alice: TestKeyring;
let bob: TestKeyring;
let mallory: TestKeyring;
let signerEnv: Record<string, string>;

beforeAll(async () => {
  await seedDatabase(database, 200);
  [alice, bob, mallory] = await Promise.all([
    createKeyring('sign', ALICE_PASSPHRASE),
    createKeyring('sign'),
    createKeyring('sign'),
  ]);
  plain = await startTestWorker('approvals', { DB_NAME: database, RESTORE_APPROVERS: 'alice,bob' });
  const backup = await backupctl(['backup', '--wait'], plain.env);
  expect(backup.exitCode, backup.stderr).toBe(0);
  // Written after the backup: only an approved restore over the live database loses it.
  await withClient(database, (c) =>
    c.query(`INSERT INTO users (email) VALUES ('after-the-backup@example.com')`),
  );
  signed = await startTestWorker('approvals-signed', {
    DB_NAME: database,
    BACKUP_DIR: plain.env.BACKUP_DIR,
    S3_PREFIX: plain.env.S3_PREFIX,
    RESTORE_APPROVER_KEYS: `alice=${alice.publicKeyFile},bob=${bob.publicKeyFile}`,
    RESTORE_MIN_APPROVALS: '2',
  });
  const passphraseFile = join(tempDir('approver'), 'passphrase');
  writeFileSync(passphraseFile, `${ALICE_PASSPHRASE}\n`, { mode: 0o600 });
  signerEnv = { ...signed.env, APPROVER_KEY_PASSPHRASE_FILE: passphraseFile };
}, 240_000);

afterAll(async () => {
  await plain?.stop();
  await signed?.stop();
  for (const name of [database, scratch]) await dropDatabase(name);
});

/** Starts a restore with backupctl and waits until it waits for a human. */
async function waitingRestore(worker: TestWorker, args: string[]): Promise<string> {
  const started = await backupctl(['restore', '--latest', ...args, '--print-id'], worker.env);
  expect(started.exitCode, started.stderr).toBe(0);
  const id = started.stdout.trim();
  await statusWhen(worker, id, (s) => s.state === 'awaiting-approval');
  return id;
}

async function statusWhen(
  worker: TestWorker,
  id: string,
  ready: (status: RestoreStatus) => boolean,
): Promise<RestoreStatus> {
  const handle = worker.client.workflow.getHandle(id);
  for (let i = 0; i < 300; i += 1) {
    const status = await handle.query(restoreStatusQuery);
    if (ready(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`restore ${id} never got there`);
}

const status = (worker: TestWorker, id: string) =>
  worker.client.workflow.getHandle(id).query(restoreStatusQuery);

/** gpg --clearsign, the laptop recipe: what the keyring's owner signs, as a file backupctl sends. */
async function clearsign(keyring: TestKeyring, text: string): Promise<string> {
  const path = join(tempDir('statement'), 'statement.txt');
  writeFileSync(path, text);
  const unattended = ['--batch', '--yes', '--pinentry-mode', 'loopback', '--passphrase'];
  const passphrase = keyring === alice ? ALICE_PASSPHRASE : '';
  await execa('gpg', [...unattended, passphrase, '--clearsign', path], { env: { GNUPGHOME: keyring.home } });
  return `${path}.asc`;
}

describe('approvals through the update (RESTORE_APPROVERS=alice,bob)', () => {
  it('a non-approver is refused (exit 3, one line), recorded, and the restore keeps waiting', async () => {
    const before = await tableFingerprints(database);
    const id = await waitingRestore(plain, []);
    const run = await backupctl(['approve', id, '--by', 'mallory', '--reason', 'trust me'], plain.env);
    expectOneLineError(run, 3, /^error: refused: mallory is not in RESTORE_APPROVERS$/);
    const after = await status(plain, id);
    expect(after.state).toBe('awaiting-approval');
    expect(after.refused).toEqual([expect.objectContaining({ signal: 'approve', by: 'mallory' })]);
    expect(await tableFingerprints(database)).toEqual(before);

    // A decision stands: alice's rejection ends it, and a second decision is refused.
    const rejected = await backupctl(['reject', id, '--by', 'alice', '--reason', 'drill'], plain.env);
    expect(rejected.exitCode, rejected.stderr).toBe(0);
    expect(rejected.stdout).toMatch(/^rejected: /);
    const second = await backupctl(['approve', id, '--by', 'bob'], plain.env);
    expect(second.exitCode).toBe(3);
    expect(second.stderr).toMatch(/^error: (refused: already rejected by alice|restore \S+ has ended)/m);
    expect((await backupctl(['status', id, '--wait'], plain.env)).exitCode).toBe(1);
    expect(await tableFingerprints(database)).toEqual(before);

    // Approving a finished restore says it has ended, not that it does not exist.
    const late = await backupctl(['approve', id, '--by', 'alice'], plain.env);
    expectOneLineError(
      late,
      3,
      /^error: restore \S+ has ended \(failed\); there is nothing left to approve or reject$/,
    );
    const unknown = await backupctl(['approve', `${id}-nope`, '--by', 'alice'], plain.env);
    expectOneLineError(unknown, 3, /^error: no restore with the id /);
  });

  it('a second decision by another approver after an approval is refused with who decided', async () => {
    const id = await waitingRestore(plain, ['--target-db', scratch, '--create-db']);
    const approved = await backupctl(['approve', id, '--by', 'alice'], plain.env);
    expect(approved.exitCode, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(/^approved by alice: /);
    const second = await backupctl(['reject', id, '--by', 'bob', '--reason', 'too late'], plain.env);
    expect(second.exitCode).toBe(3);
    expect(second.stderr).toMatch(/^error: (refused: already approved by alice|restore \S+ has ended)/m);
    expect((await backupctl(['status', id, '--wait'], plain.env)).exitCode).toBe(0);
  });
});

describe('an approval before the plan', () => {
  it('is refused (the restore is not waiting yet) and recorded; the restore goes on to wait', async () => {
    const handle = await startRestore(plain.client, {
      source: { latest: true },
      database,
      taskQueue: plain.config.temporal.taskQueue,
    });
    // Sent at once: the restore is still finding its backup.
    const early = await failureOf(approveRestore(plain.client, handle.workflowId, { by: 'alice' }));
    expect(early.kind).toBe('Configuration');
    expect(early.message).toMatch(/^refused: the restore is not waiting for approval yet/);
    const waiting = await statusWhen(plain, handle.workflowId, (s) => s.state === 'awaiting-approval');
    expect(waiting.refused).toEqual([
      expect.objectContaining({ by: 'alice', why: expect.stringMatching(/not waiting for approval yet/) }),
    ]);
    await rejectRestore(plain.client, handle.workflowId, { by: 'bob', reason: 'only a test' });
  });
});

describe('signed approvals (RESTORE_APPROVER_KEYS, RESTORE_MIN_APPROVALS=2)', () => {
  it('refuses and records unsigned and wrongly signed approvals; two signed ones restore', async () => {
    const before = await tableFingerprints(database);
    const id = await waitingRestore(signed, []);
    const waiting = await status(signed, id);
    expect(waiting.planDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(waiting.approvalsNeeded).toBe(2);

    const unsigned = await backupctl(['approve', id, '--by', 'alice'], signed.env);
    expectOneLineError(unsigned, 3, /^error: refused: not signed; /);

    // The raw signal, as `temporal workflow signal` sends it: refused and recorded as well.
    await signed.client.workflow.getHandle(id).signal(approveSignal, { by: 'alice', reason: 'signal' });

    // mallory's key, claiming to be alice.
    const malloryKey = { ...signerEnv, APPROVER_KEY_PASSPHRASE_FILE: '' };
    const forged = await backupctl(
      ['approve', id, '--by', 'alice', '--sign-with', mallory.privateKeyFile],
      malloryKey,
    );
    expectOneLineError(forged, 3, /^error: refused: the signature is not the approver's/);

    // alice's own key, over another plan.
    const otherPlan = approvalStatement({
      workflowId: id,
      planDigest: '0'.repeat(64),
      by: 'alice',
      decision: 'approve',
    });
    const stale = await backupctl(
      ['approve', id, '--by', 'alice', '--signature', await clearsign(alice, otherPlan)],
      signed.env,
    );
    expectOneLineError(stale, 3, /^error: refused: the signed text is not the statement of this restore/);

    const refused = (await statusWhen(signed, id, (s) => s.refused.length >= 4)).refused;
    expect(refused.map((r) => r.why)).toEqual([
      expect.stringMatching(/^not signed/),
      expect.stringMatching(/^not signed/),
      expect.stringMatching(/^the signature is not/),
      expect.stringMatching(/^the signed text is not/),
    ]);
    expect(await tableFingerprints(database)).toEqual(before);

    // alice signs with her key here (its passphrase from a file): one of two.
    const first = await backupctl(
      ['approve', id, '--by', 'alice', '--sign-with', alice.privateKeyFile, '--reason', 'INC-42'],
      signerEnv,
    );
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^approved by alice \(1 of 2\): \S+ waits for 1 more approver$/);
    const shown = await backupctl(['status', id], signed.env);
    expect(shown.stdout).toMatch(/approvals: 1 of 2 \(alice\), each signed/);
    expect((await status(signed, id)).state).toBe('awaiting-approval');
    expect(await tableFingerprints(database)).toEqual(before);

    const again = await backupctl(
      ['approve', id, '--by', 'alice', '--sign-with', alice.privateKeyFile],
      signerEnv,
    );
    expectOneLineError(again, 3, /^error: refused: alice has approved already/);

    // bob, from his laptop: the statement, gpg --clearsign, the signature sent.
    const statement = await backupctl(['status', id, '--statement', 'approve', '--by', 'bob'], signed.env);
    expect(statement.exitCode, statement.stderr).toBe(0);
    expect(statement.stdout).toContain(`plan: sha256:${waiting.planDigest}`);
    const second = await backupctl(
      ['approve', id, '--by', 'bob', '--signature', await clearsign(bob, statement.stdout)],
      signed.env,
    );
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^approved by alice, bob: /);

    const done = await backupctl(['status', id, '--wait'], signed.env);
    expect(done.exitCode, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/approved by alice, bob at /);
    // Approved at last: the restore replaced the live database, and the row written after the backup is gone.
    const rows = await withClient(database, async (c) =>
      Number((await c.query('SELECT count(*) FROM users')).rows[0].count),
    );
    expect(rows).toBe(200);
  });
});
