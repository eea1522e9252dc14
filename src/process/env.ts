// What the tools we run (pg_dump, pg_restore, psql, gpg, docker) see of our environment.

/** Enough to find and run a tool; nothing of the worker's secrets (S3 keys, passphrase, webhook URL). */
const INHERITED = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const;

/** What the docker CLI needs to reach its daemon (USE_DOCKER). They go to docker, not into the container. */
const DOCKER_CLIENT = [
  'DOCKER_HOST',
  'DOCKER_CONTEXT',
  'DOCKER_CONFIG',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
];

/**
 * execa options for a child that gets only INHERITED plus `extra`: by default execa passes the
 * whole environment on, where /proc/<pid>/environ would show every secret the worker holds.
 */
export function toolEnv(extra: Record<string, string | undefined> = {}): {
  env: Record<string, string | undefined>;
  extendEnv: false;
} {
  // Messages in English: errors are matched by their text (see toolError), whatever the host's LANG.
  return { env: { ...ours(INHERITED), LC_MESSAGES: 'C', ...extra }, extendEnv: false };
}

/** The docker CLI's own settings, for toolEnv's `extra` when a tool runs through `docker exec`. */
export function dockerClientEnv(): Record<string, string | undefined> {
  return ours(DOCKER_CLIENT);
}

function ours(names: readonly string[]): Record<string, string | undefined> {
  return Object.fromEntries(
    names.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]),
  );
}
