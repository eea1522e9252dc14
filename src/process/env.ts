// What the tools we run (pg_dump, pg_restore, psql, gpg) see of our environment.

/** Enough to find and run a tool; nothing of the worker's secrets (S3 keys, passphrase, webhook URL). */
const INHERITED = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const;

/**
 * execa options for a child that gets only INHERITED plus `extra`: by default execa passes the
 * whole environment on, where /proc/<pid>/environ would show every secret the worker holds.
 */
export function toolEnv(extra: Record<string, string | undefined> = {}): {
  env: Record<string, string | undefined>;
  extendEnv: false;
} {
  const inherited = Object.fromEntries(
    INHERITED.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]),
  );
  // Messages in English: errors are matched by their text (see toolError), whatever the host's LANG.
  return { env: { ...inherited, LC_MESSAGES: 'C', ...extra }, extendEnv: false };
}
