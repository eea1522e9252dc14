import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig, type Config } from '../../src/config/index.js';
import { parseEnvFile } from '../../src/config/env-file.js';
import { SECRET_VARIABLES } from '../../src/config/schema.js';
import { openerFor, sealerFor } from '../../src/crypto/keys.js';
import { restoreTaskQueueName } from '../../src/temporal/names.js';
import { createKeyring, type TestKeyring } from '../helpers/gpg.js';
import { REPO_ROOT, servicesEnv, uniqueName } from '../helpers/services.js';

// No Docker engine runs here: the Compose file is checked against the Compose specification's
// schema, and the environment it gives our containers is run through our own config loader, as
// the worker does at start. The systemd unit goes through systemd-analyze verify.

type Environment = Record<string, string> | string[];
interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  environment?: Environment;
  secrets?: (string | { source: string; target?: string })[];
  volumes?: (string | { type: string; source?: string })[];
}
interface ComposeFile {
  services: Record<string, Service>;
  secrets: Record<string, { file?: string }>;
}

const composeText = readFileSync(`${REPO_ROOT}docker-compose.yml`, 'utf8');
// Compose resolves YAML merge keys (<<) before it reads the file; so do we.
const compose = YAML.parse(composeText, { merge: true }) as ComposeFile;
const deploymentDoc = readFileSync(`${REPO_ROOT}docs/deployment.md`, 'utf8');

/** The Compose specification's schema, as the dclint package ships it (compose-spec/compose-spec of 2025-07-20). */
function composeSchemaValidator() {
  const schema = JSON.parse(
    readFileSync(`${REPO_ROOT}node_modules/dclint/schemas/compose.schema.json`, 'utf8'),
  );
  // The schema names a draft-07 meta-schema URL ajv does not carry, and uses annotations (deprecated) strict mode refuses.
  return new Ajv({ allErrors: true, strict: false, validateSchema: false }).compile(schema);
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(
    env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
}

/** secret name -> the path the container sees it at (/run/secrets/<name> unless a target says otherwise). */
function secretMounts(service: Service): Map<string, string> {
  return new Map(
    (service.secrets ?? []).map((secret) => {
      const source = typeof secret === 'string' ? secret : secret.source;
      const target = typeof secret === 'string' ? undefined : secret.target;
      return [source, target?.startsWith('/') ? target : `/run/secrets/${target ?? source}`];
    }),
  );
}

/**
 * The container's environment with each /run/secrets path replaced by a temporary file holding
 * that secret's content: only secrets the service mounts are there, as in the container.
 */
function containerEnvironment(name: string, contents: Record<string, string>): Record<string, string> {
  const service = compose.services[name]!;
  const dir = mkdtempSync(join(tmpdir(), `compose-${name}-`));
  const onDisk = new Map<string, string>();
  for (const [secret, mountPath] of secretMounts(service)) {
    const content = contents[secret];
    if (content === undefined) throw new Error(`test has no content for secret ${secret}`);
    const file = join(dir, secret);
    writeFileSync(file, content, { mode: 0o600 });
    onDisk.set(mountPath, file);
  }
  return Object.fromEntries(
    Object.entries(environmentOf(service)).map(([key, value]) => {
      if (!value.startsWith('/run/secrets/')) return [key, value];
      const file = onDisk.get(value);
      if (!file) throw new Error(`${name}: ${key}=${value}, but the service does not mount that secret`);
      return [key, file];
    }),
  );
}

/** ${VAR:-default} as Compose reads it with VAR unset. */
function interpolated(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose specification', () => {
    const validate = composeSchemaValidator();
    expect(validate(compose), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The check can fail: a misspelt key is refused.
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    broken.services.worker!.restart_policy = 'always';
    expect(validate(broken)).toBe(false);
  });

  it('runs durable-backup in a worker, a restore worker and the schedules one-shot, on one task queue', () => {
    const ours = Object.keys(compose.services).filter((name) => compose.services[name]!.build === '.');
    expect(ours.sort()).toEqual(['restore-worker', 'schedules', 'worker']);
    expect(compose.services.schedules!.command).toEqual(['schedules', 'apply']);
    const queues = ours.map((name) => environmentOf(compose.services[name]!).TEMPORAL_TASK_QUEUE);
    expect(new Set(queues).size).toBe(1);
  });

  it('gives no service a secret as a plain environment value', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      const env = environmentOf(service);
      for (const secret of SECRET_VARIABLES) expect(env, `${name}: ${secret}`).not.toHaveProperty(secret);
      // Nor the images' own: POSTGRES_PASSWORD and Temporal's POSTGRES_PWD come from files.
      const plain = Object.keys(env).filter((key) => /PASSWORD|PWD|SECRET|PASSPHRASE|API_KEY/.test(key));
      expect(
        plain.filter((key) => !key.endsWith('_FILE')),
        name,
      ).toEqual([]);
    }
  });

  it('reads every secret from a file that docs/deployment.md tells the operator to create', () => {
    const used = new Set(
      Object.values(compose.services).flatMap((service) => [...secretMounts(service).keys()]),
    );
    expect([...used].sort()).toEqual(Object.keys(compose.secrets).sort());
    for (const [name, secret] of Object.entries(compose.secrets)) {
      expect(interpolated(secret.file ?? ''), name).toBe(`./secrets/${name}`);
      expect(deploymentDoc, `docs/deployment.md creates secrets/${name}`).toContain(`secrets/${name}`);
    }
  });

  it('mounts only files that exist in the repository', () => {
    const sources = Object.values(compose.services)
      .flatMap((service) => service.volumes ?? [])
      .map((volume) => (typeof volume === 'string' ? volume.split(':')[0]! : (volume.source ?? '')))
      .filter((source) => source.startsWith('./'));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
  });

  describe('our containers start with a valid configuration', () => {
    const passphrase = 'compose test passphrase';
    let keyring: TestKeyring;
    let secrets: Record<string, string>;
    beforeAll(async () => {
      keyring = await createKeyring('default', passphrase);
      secrets = {
        db_password: 'compose-db-password',
        s3_access_key: 'COMPOSEACCESSKEY',
        s3_secret_key: 'compose-secret-key',
        s3_tls_cert: '-----BEGIN CERTIFICATE-----\n',
        gpg_public_key: readFileSync(keyring.publicKeyFile, 'utf8'),
        gpg_private_key: readFileSync(keyring.privateKeyFile, 'utf8'),
        gpg_passphrase: `${passphrase}\n`,
        backup_signing_key: readFileSync(process.env.TEST_BACKUP_SIGNING_KEY_FILE!, 'utf8'),
      };
    });

    /** What the worker does at start before it connects: load the configuration, read the public key. */
    async function startUp(name: string): Promise<Config> {
      const config = loadConfig({ env: containerEnvironment(name, secrets) });
      expect((await sealerFor(config)).fingerprints).toEqual([keyring.fingerprint.toUpperCase()]);
      return config;
    }

    it('worker: backs up, with the public key only, and stays off the restore queue', async () => {
      const config = await startUp('worker');
      expect(config).toMatchObject({
        environment: 'production',
        database: { host: 'postgres', password: 'compose-db-password' },
        s3: {
          endpoint: 'https://seaweedfs:8333',
          accessKeyId: 'COMPOSEACCESSKEY',
          secretAccessKey: 'compose-secret-key',
        },
        encryption: { publicKeyFile: expect.any(String) },
        restore: { enabled: false, privateKeyFile: undefined, passphrase: undefined },
      });
      expect(secretMounts(compose.services.worker!).has('gpg_private_key')).toBe(false);
    });

    it('restore-worker: holds the private key and its passphrase, and unlocks it', async () => {
      const config = await startUp('restore-worker');
      expect(config.restore).toMatchObject({ enabled: true, passphrase });
      expect(config.temporal.taskQueue).toBe('durable-backup');
      expect(restoreTaskQueueName(config.temporal.taskQueue)).toBe('durable-backup-restore');
      // A wrong passphrase would throw here, as it would in the worker's first restore.
      expect(await openerFor(config)).toBeDefined();
    });

    it('schedules: applies the schedules without any secret but the public key', async () => {
      const config = await startUp('schedules');
      expect(config.database.password).toBeUndefined();
      expect(config.temporal).toMatchObject({ address: 'temporal:7233', namespace: 'default' });
    });
  });

  it('deploy/compose/temporal-setup.sh namespace: creates the namespace and the search attributes, twice over', async () => {
    const temporalCli = `${REPO_ROOT}.tools/bin/temporal`;
    const namespace = uniqueName('compose-setup').replace(/_/g, '-');
    const env = {
      PATH: `${REPO_ROOT}.tools/bin:${process.env.PATH}`,
      TEMPORAL_ADDRESS: servicesEnv().TEMPORAL_ADDRESS!,
      TEMPORAL_NAMESPACE: namespace,
    };
    const setup = () =>
      execa('sh', [`${REPO_ROOT}deploy/compose/temporal-setup.sh`, 'namespace'], { env, extendEnv: false });
    try {
      expect((await setup()).stdout).toContain(`namespace ${namespace} ready`);
      expect((await setup()).stdout).toContain(`namespace ${namespace} ready`);
      const { stdout } = await execa(
        temporalCli,
        ['operator', 'search-attribute', 'list', '--namespace', namespace],
        { env },
      );
      for (const name of ['BackupDatabase', 'BackupKind', 'BackupLabel'])
        expect(stdout).toMatch(new RegExp(`${name}\\s+Keyword`));
    } finally {
      await execa(temporalCli, ['operator', 'namespace', 'delete', '--namespace', namespace, '--yes'], {
        env,
        reject: false,
      });
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(`${REPO_ROOT}Dockerfile`, 'utf8').replace(/\\\n/g, ' ');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const stage = (name: string) => stages.find((text) => text.split('\n')[0]!.includes(` AS ${name}`))!;

  it('builds in one stage and runs from another, on glibc Node 20', () => {
    expect(stages.map((text) => text.split('\n')[0]!.trim())).toEqual([
      '${NODE_IMAGE} AS build',
      '${NODE_IMAGE} AS runtime',
    ]);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
  });

  it('bundles the workflows at build time and ships production dependencies only', () => {
    expect(stage('build')).toMatch(
      /npm run build && test -s dist\/workflow-bundle\.js && npm prune --omit=dev/,
    );
    expect(stage('runtime')).toContain('COPY --from=build /app/dist dist');
    expect(stage('runtime')).not.toMatch(/npm (ci|install)/);
  });

  it("carries the PostgreSQL client of the Compose database's major version, gpg and zstd", () => {
    const composeMajor = /^durable-backup-postgres:(\d+)$/.exec(compose.services.postgres!.image!)![1];
    expect(stage('runtime')).toContain(`ARG PG_MAJOR=${composeMajor}`);
    expect(stage('runtime')).toMatch(/postgresql-client-\$\{PG_MAJOR\}/);
    expect(stage('runtime')).toMatch(/install .*gnupg/);
    expect(stage('runtime')).toMatch(/install .*zstd/);
  });

  it("carries Debian's pgBackRest, installed before the PGDG sources are added", () => {
    const install = /apt-get install[^&]*pgbackrest[^&]*&&[^]*apt\.postgresql\.org\.sh/.exec(
      stage('runtime'),
    );
    expect(install, stage('runtime')).not.toBeNull();
  });

  it('runs backupctl worker as a user that is not root', () => {
    const users = [...stage('runtime').matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
    expect(users.at(-1)).toBe('durable-backup');
    expect(stage('runtime')).toMatch(/^ENTRYPOINT \["backupctl"\]$/m);
    expect(stage('runtime')).toMatch(/^CMD \["worker"\]$/m);
  });

  it('has every file it copies in the build context', () => {
    const ignore = readFileSync(`${REPO_ROOT}.dockerignore`, 'utf8');
    const copied = [...stage('build').matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(' '),
    );
    for (const path of copied) {
      expect(existsSync(join(REPO_ROOT, path)), path).toBe(true);
      expect(ignore, `.dockerignore lets ${path} in`).toMatch(new RegExp(`^!${path}(/\\*\\*)?$`, 'm'));
    }
  });
});

describe('deploy/postgres (the Compose database, issue #21)', () => {
  const dockerfile = readFileSync(`${REPO_ROOT}deploy/postgres/Dockerfile`, 'utf8');

  it("is the official image of the Compose database's major version plus Debian's pgBackRest", () => {
    const major = /^durable-backup-postgres:(\d+)$/.exec(compose.services.postgres!.image!)![1];
    expect(compose.services.postgres!.build).toBe('./deploy/postgres');
    expect(dockerfile).toMatch(new RegExp(`^ARG PG_MAJOR=${major}$`, 'm'));
    expect(dockerfile).toMatch(/^FROM postgres:\$\{PG_MAJOR\}-bookworm$/m);
    expect(dockerfile).toMatch(/apt-get install .*pgbackrest\/bookworm/);
  });

  it('archives WAL through pgBackRest at least every 60 s, its configuration on a volume of its own', () => {
    const command = compose.services.postgres!.command!.join(' ');
    for (const setting of ['wal_level=replica', 'archive_mode=on', 'archive_timeout=60s'])
      expect(command).toContain(`-c ${setting}`);
    expect(compose.services.postgres!.volumes).toContain('pgbackrest:/var/lib/durable-backup/pgbackrest');
  });

  it('lets a segment go before pitr setup (pg_wal must not fill the disk), and hands it to pgBackRest after', () => {
    const setting = compose.services.postgres!.command!.find((c) => c.startsWith('archive_command='))!;
    const folder = mkdtempSync(join(tmpdir(), 'compose-archive-'));
    // The command as the server runs it (sh -c, %p the segment), with the volume's path in a temp folder.
    const run = () =>
      spawnSync('sh', [
        '-c',
        setting
          .slice('archive_command='.length)
          .replaceAll('/var/lib/durable-backup/pgbackrest', folder)
          .replace('%p', join(folder, 'segment')),
      ]);
    expect(run().status).toBe(0);
    writeFileSync(join(folder, 'app.conf'), '[app]\npg1-path=/nonexistent\n');
    // Now pgBackRest runs and, with no such stanza, fails: the server keeps the segment and retries.
    const archived = run();
    expect(archived.status, String(archived.stderr)).not.toBe(0);
    expect(String(archived.stderr) + String(archived.stdout)).toMatch(/ERROR: \[\d+\]/);
  });
});

describe('deploy/systemd', () => {
  const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

  /** What install.sh writes, under a root of its own (DESTDIR): no user, no systemctl. */
  function installed(): string {
    const root = mkdtempSync(join(tmpdir(), 'systemd-root-'));
    execFileSync(`${REPO_ROOT}deploy/systemd/install.sh`, { env: { ...process.env, DESTDIR: root } });
    return root;
  }

  it.skipIf(!systemdAnalyze)(
    'the unit passes systemd-analyze verify without a warning (skipped without systemd-analyze)',
    () => {
      const unit = `${installed()}/etc/systemd/system/durable-backup-worker.service`;
      expect(readFileSync(unit, 'utf8')).toContain(
        `ExecStart=${process.execPath} ${REPO_ROOT}dist/src/cli/main.js worker`,
      );
      // verify exits 0 on warnings (an unknown key, a bad value): any output at all is a failure.
      const result = spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' });
      expect(result.stderr + result.stdout).toBe('');
      expect(result.status).toBe(0);
      // And the check can fail: a misspelt setting is reported.
      writeFileSync(unit, readFileSync(unit, 'utf8').replace('ProtectHome=yes', 'ProtectHomes=yes'));
      expect(spawnSync('systemd-analyze', ['verify', '--man=no', unit], { encoding: 'utf8' }).stderr).toMatch(
        /Unknown key 'ProtectHomes'/,
      );
    },
  );

  it('hardens the service as the operations guide asks', () => {
    const unit = readFileSync(`${REPO_ROOT}deploy/systemd/durable-backup-worker.service`, 'utf8');
    for (const line of [
      'User=durable-backup',
      'Restart=on-failure',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'EnvironmentFile=/etc/durable-backup/backup.env',
    ])
      expect(unit).toMatch(new RegExp(`^${line}$`, 'm'));
    // BACKUP_DIR of the example env file is writable under ProtectSystem=strict.
    const env = parseEnvFile(
      readFileSync(`${REPO_ROOT}deploy/systemd/backup.env.example`, 'utf8'),
      'backup.env.example',
    );
    const writable = [...unit.matchAll(/^ReadWritePaths=(.+)$/gm)].flatMap((m) => m[1]!.split(' '));
    expect(writable.some((path) => env.BACKUP_DIR!.startsWith(`${path}/`) || env.BACKUP_DIR === path)).toBe(
      true,
    );
  });

  it('installs the example env file 0600, which the config loader accepts as it stands', () => {
    const file = `${installed()}/etc/durable-backup/backup.env`;
    expect(execFileSync('stat', ['-c', '%a', file], { encoding: 'utf8' }).trim()).toBe('600');
    const config = loadConfig({ env: {}, envFile: file });
    expect(config).toMatchObject({ environment: 'production', restore: { enabled: false } });
  });
});
