import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { startWorker } from '../../src/worker/index.js';
import { backupctl, expectOneLineError } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { createKeyring } from '../helpers/gpg.js';
import { restoreFixture } from '../helpers/restore-fixture.js';
import { s3StoreOf } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';
import { workflowBundle } from '../helpers/temporal.js';

// A backup damaged in the bucket or on this host, or opened with the wrong key, is refused before
// the target is touched. Its own file: it rewrites its backup's object, which no other test may read.

const { fixture, seededTarget } = restoreFixture('rsd');
let env: Record<string, string>;
let config: Config;
let backup: BackupResult;

// Runs after the fixture's own beforeAll, which fills it.
beforeAll(() => {
  ({ env, config, backup } = fixture);
});

describe('a damaged or wrongly keyed backup fails before the target is touched', () => {
  let original: Buffer;
  let target: Awaited<ReturnType<typeof seededTarget>>;

  beforeAll(async () => {
    original = Buffer.concat(await (await s3StoreOf(config).read(backup.key)).toArray());
    target = await seededTarget();
  });

  afterAll(async () => {
    await s3StoreOf(config).putBytes(backup.key, original);
  });

  async function restoreDamaged(bytes: Buffer, cliEnv = env) {
    await s3StoreOf(config).putBytes(backup.key, bytes);
    const run = await backupctl(
      ['restore', '--s3-key', backup.key, '--target-db', target.name, '--force', '--wait'],
      cliEnv,
    );
    await target.expectUnchanged();
    return run;
  }

  it('a flipped byte: exit 4 (download failed: checksum)', async () => {
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const run = await restoreDamaged(flipped);
    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/error: .*sha256.*damaged/);
  });

  it('a truncated object: exit 4', async () => {
    const run = await restoreDamaged(original.subarray(0, original.length - 1000));
    expect(run.exitCode, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/error: .*(truncated|bytes)/);
  });

  it('a truncated local copy (--file): exit 4, with a hint about that file, not about S3', async () => {
    const [folder, name] = [dirname(backup.localPath), basename(backup.localPath)];
    const copy = tempDir('truncated-local');
    const stem = name.replace(/\.dump(\.zst)?(\.gpg)?$/, '');
    for (const file of readdirSync(folder).filter((f) => f.startsWith(stem)))
      copyFileSync(join(folder, file), join(copy, file));
    const whole = readFileSync(backup.localPath);
    writeFileSync(join(copy, name), whole.subarray(0, whole.length - 1000));
    const run = await backupctl(
      ['restore', '--file', join(copy, name), '--target-db', target.name, '--force', '--wait'],
      env,
    );
    await target.expectUnchanged();
    // Its size is not the manifest's: refused before a byte is read, as a damaged copy.
    expectOneLineError(
      run,
      4,
      /: not trusted: manifest and object disagree \(\d+ bytes, the manifest says \d+\)$/,
    );
    expect(run.stderr).toMatch(
      /^hint: the copy on this host is damaged or incomplete \(S3 and the keys are not the cause\)/m,
    );
    expect(run.stderr).not.toContain('S3_ENDPOINT');
  });

  it('the wrong private key: exit 5 (decryption failed)', async () => {
    const other = await createKeyring();
    const otherEnv = {
      ...env,
      GPG_PRIVATE_KEY_FILE: other.privateKeyFile,
      TEMPORAL_TASK_QUEUE: uniqueName('rs_wrongkey'),
    };
    const otherWorker = await startWorker(loadConfig({ env: otherEnv }), {
      workflowBundle: await workflowBundle(),
    });
    try {
      const run = await restoreDamaged(original, otherEnv);
      expect(run.exitCode, run.stderr).toBe(5);
      expect(run.stderr).toMatch(/error: .*encrypted to other keys/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await otherWorker.shutdown();
    }
  });
});
