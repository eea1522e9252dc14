import { chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { backupctl, expectOneLineError, type CliRun } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startPitrCluster, type PitrCluster } from '../helpers/pitr-cluster.js';
import { startPrivateS3, type PrivateService } from '../helpers/private-services.js';
import { parentOf, processesMatching } from '../helpers/processes.js';
import { objectKeys, s3StoreOf } from '../helpers/s3.js';
import { uniqueName } from '../helpers/services.js';

// Issue #21, the foundation: `backupctl pitr setup` against a private cluster that archives through
// pgBackRest, with the repository on a path and then in SeaweedFS over HTTPS with the cipher on.

const CIPHER_PASS = 'pitr-cipher-passphrase-7f3c9a1e5b';

let s3: PrivateService;
const clusters: PitrCluster[] = [];

beforeAll(async () => {
  s3 = await startPrivateS3();
});

afterAll(async () => {
  for (const cluster of clusters) await cluster.remove();
  await s3?.remove();
});

async function clusterFor(archive = true): Promise<PitrCluster> {
  const cluster = await startPitrCluster({ stanza: uniqueName('pitr'), archive });
  clusters.push(cluster);
  return cluster;
}

/** backupctl's variables for the cluster, its repository in the private SeaweedFS over HTTPS. */
function s3Env(cluster: PitrCluster, extra: Record<string, string>): Record<string, string> {
  return {
    ...cluster.env,
    ...s3.env,
    S3_FORCE_PATH_STYLE: 'true',
    BACKUP_DIR: tempDir('pitr-backups'),
    PITR_S3_ENDPOINT: s3.env.S3_HTTPS_ENDPOINT!,
    ...extra,
  };
}

/** Every pgbackrest process whose ancestors include this test or the cluster's postmaster, as it ran. */
function watchPgBackRest(cluster: PitrCluster): { stop(): { cmdline: string; environ: string }[] } {
  const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const ours = (pid: number) => {
    for (let p: number | undefined = pid, hops = 0; p && hops < 10; p = parentOf(p), hops += 1)
      if (p === process.pid || p === postmaster) return true;
    return false;
  };
  const seen = new Map<number, { cmdline: string; environ: string }>();
  const timer = setInterval(() => {
    for (const p of processesMatching('pgbackrest')) if (ours(p.pid)) seen.set(p.pid, p);
  }, 10);
  return {
    stop: () => {
      clearInterval(timer);
      return [...seen.values()];
    },
  };
}

async function archivedCount(cluster: PitrCluster): Promise<{ archived: number; failed: number }> {
  const [archived, failed] = (
    await cluster.psql('SELECT archived_count, failed_count FROM pg_stat_archiver')
  ).split('|');
  return { archived: Number(archived), failed: Number(failed) };
}

/** Forces a segment switch and waits for the archiver to hand it to pgBackRest. */
async function expectSegmentArchived(cluster: PitrCluster): Promise<void> {
  const before = (await archivedCount(cluster)).archived;
  await cluster.psql('CREATE TABLE IF NOT EXISTS t AS SELECT 1 AS x; SELECT pg_switch_wal()');
  const deadline = Date.now() + 30_000;
  while ((await archivedCount(cluster)).archived <= before && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 200));
  expect((await archivedCount(cluster)).archived).toBeGreaterThan(before);
}

function expectReady(run: CliRun, stanza: string): void {
  expect(run.exitCode, run.stderr).toBe(0);
  expect(run.stderr).toContain(`stanza ${stanza} created`);
  expect(run.stderr).toContain('pgbackrest check passed');
  expect(run.stdout).toMatch(new RegExp(`^pitr ready: stanza ${stanza}, repository `));
}

describe('backupctl pitr setup', () => {
  it('a repository on a path: writes a private configuration, creates the stanza, checks, and WAL is archived', async () => {
    const cluster = await clusterFor();
    const { stanza, configDir } = cluster;
    const repo = join(cluster.dir, 'repo');
    const env = { ...cluster.env, BACKUP_DIR: tempDir('pitr-backups'), PITR_REPO_PATH: repo };
    const run = await backupctl(['pitr', 'setup'], env);
    expectReady(run, stanza);
    const configFile = `${configDir}/${stanza}.conf`;
    const stat = statSync(configFile);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stat.uid).toBe(statSync(cluster.dataDir).uid);
    expect(readFileSync(configFile, 'utf8')).toContain(`repo1-path=${repo}\n`);
    await expectSegmentArchived(cluster);
    expect(statSync(join(repo, 'archive', stanza, 'archive.info')).isFile()).toBe(true);

    // Run again: the same configuration, the stanza left as it is.
    expectReady(await backupctl(['pitr', 'setup'], env), stanza);
  });

  it('a repository in SeaweedFS over HTTPS with the cipher on: no passphrase in an argument list, an environment or the output', async () => {
    const cipherFile = join(tempDir('pitr-secret'), 'cipher');
    writeFileSync(cipherFile, `${CIPHER_PASS}\n`);
    chmodSync(cipherFile, 0o600);
    const cluster = await clusterFor();
    const { stanza } = cluster;
    const watch = watchPgBackRest(cluster);
    const run = await backupctl(
      ['pitr', 'setup'],
      s3Env(cluster, { PITR_S3_VERIFY_TLS: 'false', PITR_CIPHER_PASS_FILE: cipherFile }),
    );
    await expectSegmentArchived(cluster);
    const seen = watch.stop();
    expectReady(run, stanza);
    expect(run.stdout).toContain(`repository s3://${s3.env.S3_BUCKET}/pgbackrest/${stanza}`);

    expect(seen.map((p) => p.cmdline).join('\n')).toMatch(/ stanza-create/);
    expect(seen.map((p) => p.cmdline).join('\n')).toMatch(/ check/);
    expect(seen.map((p) => p.cmdline).join('\n')).toMatch(/ archive-push /);
    for (const secret of [CIPHER_PASS, s3.env.S3_SECRET_KEY!]) {
      for (const p of seen) {
        expect(p.cmdline).not.toContain(secret);
        expect(p.environ).not.toContain(secret);
      }
      expect(run.stdout + run.stderr).not.toContain(secret);
    }

    // The archive is in the bucket under the stanza's prefix, encrypted (OpenSSL's "Salted__" header).
    const config = loadConfig({
      env: { ...s3.env, DB_NAME: 'x', S3_FORCE_PATH_STYLE: 'true', S3_PREFIX: `pgbackrest/${stanza}/` },
    });
    const keys = await objectKeys(config);
    expect(keys).toContain(`archive/${stanza}/archive.info`);
    expect(
      keys.some((k) => /^archive\/.*\/[0-9A-F]{24}-[0-9a-f]{40}\.zst$/.test(k)),
      keys.join('\n'),
    ).toBe(true);
    const info = await text(await s3StoreOf(config).read(`archive/${stanza}/archive.info`));
    expect(info.startsWith('Salted__')).toBe(true);
  });

  // pgBackRest retries the store for its io-timeout (60 s) before it gives up on the certificate.
  it("a certificate it cannot verify: pgBackRest's own error, in one line, without a secret", async () => {
    const cluster = await clusterFor();
    const { stanza, configDir } = cluster;
    const run = await backupctl(['pitr', 'setup'], s3Env(cluster, { PITR_CIPHER_PASS: CIPHER_PASS }));
    expectOneLineError(run, 1, /^error: pgbackrest stanza-create failed: \[\d+\]: .*certificate/i);
    expect(run.stderr).toContain(`hint: pgBackRest's log: ${configDir}/${stanza}/log`);
    expect(run.stdout + run.stderr).not.toContain(CIPHER_PASS);
    expect(run.stdout + run.stderr).not.toContain(s3.env.S3_SECRET_KEY!);

    // Trusting the store's own certificate verifies it, once postgres may read the file.
    const unreadable = await backupctl(
      ['pitr', 'setup'],
      s3Env(cluster, { PITR_S3_CA_FILE: s3.env.S3_HTTPS_CA_FILE! }),
    );
    expectOneLineError(
      unreadable,
      3,
      /^error: PITR_S3_CA_FILE: .* cannot be read by postgres, as whom pgBackRest runs$/,
    );
    const caFile = join(cluster.dir, 'store-ca.pem');
    copyFileSync(s3.env.S3_HTTPS_CA_FILE!, caFile);
    chmodSync(caFile, 0o644);
    const trusted = await backupctl(
      ['pitr', 'setup'],
      s3Env(cluster, { PITR_S3_CA_FILE: caFile, PITR_CIPHER_PASS: CIPHER_PASS }),
    );
    expectReady(trusted, stanza);
  }, 200_000);

  it('refuses a server with archive_mode off, and prints the lines postgresql.conf needs', async () => {
    const cluster = await clusterFor(false);
    const { stanza, configDir } = cluster;
    const run = await backupctl(['pitr', 'setup'], {
      ...cluster.env,
      BACKUP_DIR: tempDir('pitr-backups'),
      PITR_REPO_PATH: join(cluster.dir, 'repo'),
    });
    expectOneLineError(
      run,
      3,
      /^error: pitr setup: the server does not archive WAL through pgBackRest yet \(archive_mode, archive_command\)/,
    );
    expect(run.stdout).toContain("archive_mode = 'on'\t# now off");
    expect(run.stdout).toContain(
      `archive_command = 'pgbackrest --config=${configDir}/${stanza}.conf --stanza=${stanza} archive-push %p'`,
    );
    expect(run.stdout).toContain('then restart PostgreSQL');
    expect(run.stderr).not.toContain('check passed');
  });

  it('PITR off: pitr setup says how to turn it on', async () => {
    const run = await backupctl(['pitr', 'setup'], { DB_NAME: 'app', BACKUP_DIR: tempDir('pitr-backups') });
    expectOneLineError(run, 3, /^error: PITR: point-in-time recovery is off for this database/);
  });
});
