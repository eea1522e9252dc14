import { readFileSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import { parseEnvFile } from '../../src/config/env-file.js';
import { tempDir } from './files.js';
import { freePortBlock } from './ports.js';
import { REPO_ROOT } from './services.js';

/**
 * A Temporal dev server or a SeaweedFS of a test's own, started by scripts/services.sh on a state
 * directory and ports of its own: a fault test may stop it, kill it and start it again without
 * touching the shared services the other test files use. Its state survives a stop, as the shared
 * ones' does; remove() stops it and deletes that state.
 */
export interface PrivateService {
  /** The variables that point a worker or a client at it (TEMPORAL_ADDRESS, or S3_ENDPOINT and keys). */
  env: Record<string, string>;
  start(): Promise<void>;
  /** TERM, then KILL if it does not end in time. */
  stop(): Promise<void>;
  /** KILL at once, as a crash or a pulled cable would stop it. */
  kill(): Promise<void>;
  remove(): Promise<void>;
}

type Service = 'temporal' | 's3';

async function privateService(
  service: Service,
  ports: Record<string, string>,
  pick: (written: Record<string, string>) => Record<string, string>,
): Promise<PrivateService> {
  const runDir = tempDir(`private-${service}`);
  const script = (command: string) =>
    execa('bash', [`${REPO_ROOT}scripts/services.sh`, `${command}-${service}`], {
      env: { ...ports, SERVICES_RUN_DIR: runDir },
    });
  await script('start');
  const env = pick(parseEnvFile(readFileSync(`${runDir}/services.env`, 'utf8'), 'services.env'));
  return {
    env,
    start: async () => void (await script('start')),
    stop: async () => void (await script('stop')),
    kill: async () => void (await script('kill')),
    remove: async () => {
      await script('kill');
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** A Temporal dev server persisted to a file of its own, with the search attributes the workflows set. */
export async function startPrivateTemporal(): Promise<PrivateService> {
  const port = await freePortBlock(2);
  return privateService(
    'temporal',
    { TEMPORAL_PORT: String(port), TEMPORAL_UI_PORT: String(port + 1) },
    (w) => ({
      TEMPORAL_ADDRESS: w.TEMPORAL_ADDRESS!,
    }),
  );
}

/**
 * A SeaweedFS S3 with its bucket and credentials; it also binds each port + 10000 (gRPC). Its S3
 * answers over HTTPS too (S3_HTTPS_ENDPOINT, a self-signed certificate in S3_HTTPS_CA_FILE), as
 * pgBackRest needs.
 */
export async function startPrivateS3(): Promise<PrivateService> {
  const port = await freePortBlock(5, [10_000]);
  return privateService(
    's3',
    {
      S3_PORT: String(port),
      SEAWEED_MASTER_PORT: String(port + 1),
      SEAWEED_VOLUME_PORT: String(port + 2),
      SEAWEED_FILER_PORT: String(port + 3),
      S3_HTTPS_PORT: String(port + 4),
    },
    (w) => ({
      S3_ENDPOINT: w.S3_ENDPOINT!,
      S3_BUCKET: w.S3_BUCKET!,
      S3_ACCESS_KEY: w.S3_ACCESS_KEY!,
      S3_SECRET_KEY: w.S3_SECRET_KEY!,
      S3_HTTPS_ENDPOINT: w.S3_HTTPS_ENDPOINT!,
      S3_HTTPS_CA_FILE: w.S3_HTTPS_CA_FILE!,
    }),
  );
}
