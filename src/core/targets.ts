// Where a worker may connect: the restore targets it allows (RESTORE_TARGET_HOSTS) and how it
// connects (DB_SSLMODE). Pure, so the configuration, the activities and their tests share one rule.

/** libpq's sslmode values, weakest first. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The modes that never fall back to an unencrypted connection (what production demands). */
export function isEncryptedMode(mode: SslMode): boolean {
  return SSL_MODES.indexOf(mode) >= SSL_MODES.indexOf('require');
}

/** One RESTORE_TARGET_HOSTS entry: a host, on any port or on one. */
export interface TargetHost {
  host: string;
  port?: number;
}

/**
 * "db1, db2:5433, [::1]:5432" as entries; undefined when one is not a host or host:port. Host names
 * compare without case, as DNS does.
 */
export function parseTargetHosts(list: string): TargetHost[] | undefined {
  const entries = list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const parsed = entries.map(parseEntry);
  return parsed.every((entry): entry is TargetHost => entry !== undefined) && parsed.length > 0
    ? parsed
    : undefined;
}

function parseEntry(entry: string): TargetHost | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(entry) ?? bareIPv6(entry);
  if (!match) return undefined;
  const host = (match[1] ?? match[2] ?? '').toLowerCase();
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (!host || (port !== undefined && (port < 1 || port > 65535))) return undefined;
  return { host, ...(port === undefined ? {} : { port }) };
}

/** An IPv6 address written without brackets (so without a port): `::1`, `fe80::1`, eight groups. */
function bareIPv6(entry: string): RegExpExecArray | null {
  const groups = entry.split(':');
  const wellFormed =
    groups.every((group) => /^[0-9a-f]{0,4}$/i.test(group)) && (entry.includes('::') || groups.length === 8);
  return wellFormed ? /^(.+)$/.exec(entry) : null;
}

/** Whether host:port is one of the allowed targets. */
export function isAllowedTarget(allowed: readonly TargetHost[], host: string, port: number): boolean {
  const wanted = host.toLowerCase();
  return allowed.some((entry) => entry.host === wanted && (entry.port === undefined || entry.port === port));
}

export function formatTargetHosts(allowed: readonly TargetHost[]): string {
  return allowed
    .map(({ host, port }) => {
      const name = host.includes(':') ? `[${host}]` : host;
      return port === undefined ? name : `${name}:${port}`;
    })
    .join(', ');
}
