import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startBackup,
  startDrill,
  startReread,
  waitForBackup,
  waitForDrill,
  waitForReread,
  type BackupResult,
  type DrillResult,
} from '../../src/client/index.js';
import type { Config } from '../../src/config/index.js';
import type { DrillReport } from '../../src/core/outcome.js';
import { manifestKeyFor } from '../../src/core/naming.js';
import { parseManifest } from '../../src/core/manifest.js';
import { signatureKeyFor } from '../../src/core/trust.js';
import { RESTORE_PHASES } from '../../src/core/restore/status.js';
import { readDrillReports } from '../../src/drill/reports.js';
import { backupctl } from '../helpers/cli.js';
import { writeSignedManifest } from '../helpers/backups.js';
import { failureOf } from '../helpers/errors.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { dropDatabase, seedDatabase, withClient } from '../helpers/postgres.js';
import { s3StoreOf } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { startTestWorker, type TestWorker } from '../helpers/temporal.js';

// DR drills and the re-read, through the real worker, dev server, SeaweedFS, PostgreSQL and gpg keys.

const source = uniqueName('dr_src');
const PASSING_CHECK = 'SELECT 1 / (count(*) > 0)::int FROM public.users;\n';
// Fails whatever the data: a verification step that fails after the scratch database was filled.
const FAILING_CHECK = 'SELECT 1 / (count(*) = 0)::int FROM public.users;\n';

let env: Record<string, string>;
let config: Config;
let verifySql: string;
let client: Client;
let first: BackupResult;
let testWorker: TestWorker | undefined;

beforeAll(async () => {
  await seedDatabase(source);
  const keyring = await createKeyring();
  verifySql = join(tempDir('verify'), 'verify-data.sql');
  writeFileSync(verifySql, PASSING_CHECK);
  testWorker = await startTestWorker('dr', {
    DB_NAME: source,
    GPG_PUBLIC_KEY_FILE: keyring.publicKeyFile,
    GPG_PRIVATE_KEY_FILE: keyring.privateKeyFile,
    RESTORE_VERIFY_SQL_FILE: verifySql,
  });
  ({ env, config, client } = testWorker);
  first = await backup();
});

afterAll(async () => {
  await testWorker?.stop();
  await dropDatabase(source);
});

const options = () => ({ database: source, taskQueue: config.temporal.taskQueue });
const backup = async () => waitForBackup(await startBackup(client, options()));

async function databaseExists(name: string): Promise<boolean> {
  const { rowCount } = await withClient('postgres', (c) =>
    c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]),
  );
  return rowCount === 1;
}

/** The report a drill left in BACKUP_DIR/reports, found by its workflow id. */
async function reportOf(workflowId: string): Promise<{ path: string; report: DrillReport }> {
  const found = (await readDrillReports(config.backup.dir)).find((r) => r.report.workflowId === workflowId);
  if (!found) throw new Error(`no report of ${workflowId}`);
  return found;
}

describe('DR drill', () => {
  it('restores the newest encrypted backup into a scratch database, verifies, drops it and reports', async () => {
    const handle = await startDrill(client, options());
    const { report, reportPath }: DrillResult = await waitForDrill(handle);

    expect(report).toMatchObject({
      database: source,
      ok: true,
      withinTarget: true,
      scratchDropped: true,
      rtoTargetMs: 30 * 60_000,
      backup: { key: first.key, fileBytes: first.fileBytes },
    });
    expect(report.scratchDatabase).toMatch(new RegExp(`^${source}_drill_\\d{8}_\\d{6}_[0-9a-f]{8}$`));
    expect(report.phases.map((p) => p.phase)).toEqual(RESTORE_PHASES.filter((p) => p !== 'approval'));
    expect(report.phases.find((p) => p.phase === 'verify')?.detail).toMatch(
      /row counts of 4 tables match; SQL checks passed/,
    );
    expect(report.rtoMs).toBe(report.phases.reduce((sum, p) => sum + p.durationMs, 0));
    expect(report.rtoMs).toBeGreaterThan(0);
    expect(report.error).toBeUndefined();
    expect(await databaseExists(report.scratchDatabase)).toBe(false);
    expect(statSync(reportPath).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(reportPath, 'utf8'))).toEqual(report);
    console.log(
      `drill RTO ${report.rtoMs} ms: ${report.phases.map((p) => `${p.phase} ${p.durationMs}`).join(', ')}`,
    );
  });

  it('a failed verification fails the drill; the filled scratch database is still dropped', async () => {
    writeFileSync(verifySql, FAILING_CHECK);
    try {
      const handle = await startDrill(client, options());
      const error = await failureOf(waitForDrill(handle));
      expect(error.kind).toBe('RestoreFailed');
      const { report } = await reportOf(handle.workflowId);
      expect(report).toMatchObject({ ok: false, withinTarget: false, scratchDropped: true });
      expect(report.error).toMatch(/division by zero/);
      // The phases come from the failed restore's status query; verify is the one that failed.
      expect(report.phases.map((p) => p.phase)).toEqual(
        RESTORE_PHASES.filter((p) => !['approval', 'verify'].includes(p)),
      );
      expect(await databaseExists(report.scratchDatabase)).toBe(false);
    } finally {
      writeFileSync(verifySql, PASSING_CHECK);
    }
  });

  it('a damaged newest backup fails the drill, the report says why, no scratch database is left', async () => {
    const second = await backup();
    const original = readFileSync(second.localPath);
    const damaged = Buffer.from(original);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    writeFileSync(second.localPath, damaged);
    try {
      const handle = await startDrill(client, options());
      const error = await failureOf(waitForDrill(handle));
      expect(error.kind).toBe('DownloadFailed');
      const { report } = await reportOf(handle.workflowId);
      expect(report).toMatchObject({ ok: false, scratchDropped: true, withinTarget: false });
      expect(report.rtoMs).toBeUndefined();
      expect(report.error).toContain(`${second.localPath}: ${original.length} bytes with sha256`);
      expect(report.error).toMatch(/the stored file is damaged or not the one backed up/);
      // Fetch, check and decrypt are one activity: the check failed it, so the phases end before it.
      expect(report.phases.map((p) => p.phase)).toEqual(['resolve', 'thaw']);
      expect(await databaseExists(report.scratchDatabase)).toBe(false);
    } finally {
      writeFileSync(second.localPath, original);
    }
  });

  it('drills list shows every report, newest first', async () => {
    const list = await backupctl(['drills', 'list'], env);
    expect(list.exitCode, list.stderr).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^STARTED\s+OK\s+RTO \/ TARGET\s+BACKUP\s+ERROR$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual(['FAILED', 'FAILED', 'ok']);
    expect(lines[3]).toMatch(new RegExp(`ok\\s+\\d+\\.\\d s / 1800\\.0 s\\s+${first.key}`));
    expect(lines[1]).toMatch(/the stored file is damaged/);

    const json = await backupctl(['drills', 'list', '--json'], env);
    expect(JSON.parse(json.stdout).map((r: DrillReport) => r.ok)).toEqual([false, false, true]);
  });
});

describe('re-read', () => {
  it('reads every copy of every backup and names exactly the one that is truncated', async () => {
    const remote = s3StoreOf(config);
    const chunks: Buffer[] = [];
    for await (const chunk of await remote.read(first.key)) chunks.push(chunk as Buffer);
    const whole = Buffer.concat(chunks);
    await remote.putBytes(first.key, whole.subarray(0, Math.floor(whole.length / 2)));

    const handle = await startReread(client, options());
    const error = await failureOf(waitForReread(handle));

    expect(error.kind).toBe('DownloadFailed');
    expect(error.message).toMatch(/^re-read: 1 of 4 backup copies unreadable: remote /);
    expect(error.message).toContain(
      `${first.key}: ${Math.floor(whole.length / 2)} bytes, the manifest says ${whole.length}: the stored object is truncated or damaged`,
    );
    expect(error.message.split('; ')).toHaveLength(1);
    // Each copy's download and plaintext are gone.
    expect(readdirSync(join(config.backup.dir, '.reread'))).toEqual([]);
    await remote.putBytes(first.key, whole);
  });

  // A restore leaves the archive's SHA-256 to the file's and OpenPGP's checks; a re-read compares it.
  it("compares each archive's SHA-256 with its manifest", async () => {
    const manifestPath = manifestKeyFor(first.localPath)!;
    const original = readFileSync(manifestPath, 'utf8');
    const originalSignature = readFileSync(signatureKeyFor(manifestPath), 'utf8');
    const manifest = parseManifest(original, manifestPath);
    const real = manifest.archive.sha256;
    // Signed again: a manifest that is authentic but wrong (a bug), not a forgery a reader refuses.
    await writeSignedManifest(config, manifestPath, {
      ...manifest,
      archive: { ...manifest.archive, sha256: '0'.repeat(64) },
    });
    try {
      const error = await failureOf(waitForReread(await startReread(client, options())));
      expect(error.kind).toBe('DecryptionFailed');
      expect(error.message).toMatch(/^re-read: 1 of 4 backup copies unreadable: local /);
      expect(error.message).toContain(
        `the decrypted archive has ${manifest.archive.bytes} bytes with sha256 ${real}, the manifest says ${manifest.archive.bytes} with sha256 ${'0'.repeat(64)}`,
      );
    } finally {
      writeFileSync(manifestPath, original);
      writeFileSync(signatureKeyFor(manifestPath), originalSignature);
    }
  });

  it('passes over intact copies, through the CLI', async () => {
    const run = await backupctl(['reread', '--wait'], env);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^re-read 4 copies: all readable/);
    expect(run.stdout.match(/^ {2}ok {6}(local|remote)/gm)).toHaveLength(4);
  });
});
