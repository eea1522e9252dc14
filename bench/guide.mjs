// The operations guide's manual sequences, the baselines our backup and restore are compared
// with: backup = dump to a file, `gpg --encrypt`, `aws s3 cp`; restore = `aws s3 cp`,
// `gpg --decrypt` to a file (then `zstd -d` for a zstd backup), `createdb`, `pg_restore -j2`.
// Each step runs after the previous one, as a person following the guide would run them.
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { cleanups } from './cleanup.mjs';
import { dumpScript } from './compression.mjs';
import { dropDatabase, settle } from './generate.mjs';
import { deletePrefix } from './s3.mjs';
import { log, seconds, timed } from './util.mjs';

/**
 * Debian's awscli (`aws`, an absolute path: a pyenv shim may come first on PATH) with path-style
 * addressing for SeaweedFS, no ~/.aws files, the services' S3 keys.
 */
async function awsCli(aws, s3, folder) {
  const config = join(folder, 'aws-config');
  await writeFile(config, '[default]\ns3 =\n  addressing_style = path\n');
  const env = {
    AWS_ACCESS_KEY_ID: s3.accessKey,
    AWS_SECRET_ACCESS_KEY: s3.secretKey,
    AWS_DEFAULT_REGION: s3.region,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: join(folder, 'no-aws-credentials'),
    AWS_PAGER: '',
  };
  return (from, to) =>
    execa(aws, ['s3', 'cp', from, to, '--endpoint-url', s3.endpoint, '--only-show-errors'], {
      env,
      stdin: 'ignore',
    });
}

const gpgEnv = (key) => ({ GNUPGHOME: key.home });

/** The guide's backup: the bare dump of the same setting to a file, gpg --encrypt, aws s3 cp. */
export async function guideSequence({ database, compression, folder, key, s3, stamp, libpq, aws }) {
  const dir = join(folder, 'guide');
  await mkdir(dir, { recursive: true });
  cleanups.push([`remove ${dir}`, () => rm(dir, { recursive: true, force: true })]);
  const dump = join(dir, `${database}.dump${compression.method === 'zstd' ? '.zst' : ''}`);
  const sealed = `${dump}.gpg`;
  const objectKey = `bench-guide/${stamp}/${database}.dump.gpg`;
  cleanups.push([
    `delete s3://${s3.bucket}/bench-guide/${stamp}/`,
    async () =>
      log(
        `cleanup: deleted ${await deletePrefix(s3, `bench-guide/${stamp}/`, ['bench-guide/'])} objects under s3://${s3.bucket}/bench-guide/${stamp}/`,
      ),
  ]);
  const copy = await awsCli(aws, s3, folder);

  const steps = {};
  log(`guide: ${compression.label} dump to a file`);
  const [, total] = await timed(async () => {
    [, steps.pg_dump] = await timed(() =>
      execa('bash', ['-o', 'pipefail', '-c', dumpScript(compression, true), 'bash', database, dump], {
        env: libpq,
        stdin: 'ignore',
      }),
    );
    log('guide: gpg --encrypt');
    [, steps.gpg] = await timed(() =>
      execa(
        'gpg',
        [
          '--batch',
          '--yes',
          '--trust-model',
          'always',
          '--encrypt',
          '-r',
          key.fingerprint,
          '-o',
          sealed,
          dump,
        ],
        { env: gpgEnv(key), stdin: 'ignore' },
      ),
    );
    log('guide: aws s3 cp');
    [, steps.aws] = await timed(() => copy(sealed, `s3://${s3.bucket}/${objectKey}`));
  });
  const sizes = { dump: (await stat(dump)).size, sealed: (await stat(sealed)).size };
  await rm(dir, { recursive: true, force: true });
  log(`guide: ${seconds(total)} s`);
  return { ms: total, steps, sizes };
}

/**
 * The guide's restore of our backup `objectKey` into a new database `target`: aws s3 cp,
 * gpg --decrypt to a file, zstd -d to a file when the backup is zstd-compressed, createdb,
 * pg_restore -j2. Unchecked: no manifest, no checksum, no row counts.
 */
export async function guideRestore({ objectKey, zstd, folder, key, s3, aws, libpq, pgConfig, target }) {
  const dir = join(folder, 'guide-restore');
  await mkdir(dir, { recursive: true });
  cleanups.push([`remove ${dir}`, () => rm(dir, { recursive: true, force: true })]);
  cleanups.push([`drop ${target}`, () => dropDatabase(pgConfig, target)]);
  const copy = await awsCli(aws, s3, folder);
  const sealed = join(dir, 'backup.gpg');
  const archive = join(dir, 'backup.dump');
  const decrypted = zstd ? `${archive}.zst` : archive;
  await settle(pgConfig);
  const steps = {};
  const [, ms] = await timed(async () => {
    [, steps.aws] = await timed(() => copy(`s3://${s3.bucket}/${objectKey}`, sealed));
    [, steps.gpg] = await timed(() =>
      execa('gpg', ['--batch', '--yes', '--quiet', '--output', decrypted, '--decrypt', sealed], {
        env: gpgEnv(key),
        stdin: 'ignore',
      }),
    );
    if (zstd) [, steps.zstd] = await timed(() => execa('zstd', ['-d', '-q', '-f', decrypted, '-o', archive]));
    [, steps.pg_restore] = await timed(async () => {
      await execa('createdb', [target], { env: libpq });
      await execa('pg_restore', ['--jobs=2', `--dbname=${target}`, archive], { env: libpq, stdin: 'ignore' });
    });
  });
  await dropDatabase(pgConfig, target);
  await rm(dir, { recursive: true, force: true });
  return { ms, steps };
}
