import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, type Config } from '../../src/config/index.js';
import { parseEnvFile } from '../../src/config/env-file.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The addresses and keys scripts/services.sh wrote; integration tests talk to those real services. */
export function servicesEnv(): Record<string, string> {
  const file = `${REPO_ROOT}.run/services.env`;
  if (!existsSync(file)) throw new Error('no .run/services.env: run scripts/services.sh up (npm test does)');
  return parseEnvFile(readFileSync(file, 'utf8'), file);
}

/** An environment for one test: the services, a database, a task queue of its own, and overrides. */
export function testEnv(overrides: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string | undefined> = {
    ...servicesEnv(),
    BACKUP_RETRY_ATTEMPTS: '2',
    // Tests run workers side by side: the default ports would collide. A test that wants them picks free ones.
    METRICS_PORT: '0',
    TEMPORAL_METRICS_PORT: '0',
    // Every test worker signs its backups (and trusts its own signature): the run's key (global setup).
    BACKUP_SIGNING_KEY_FILE: process.env.TEST_BACKUP_SIGNING_KEY_FILE,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}

export function testConfig(overrides: Record<string, string | undefined>): Config {
  return loadConfig({ env: testEnv(overrides) });
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}
