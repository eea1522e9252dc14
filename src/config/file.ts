import { parse as parseYaml } from 'yaml';
import { configError } from '../core/errors.js';

/**
 * A config file for several databases (`--config FILE`, YAML or JSON). Each database is a map of the
 * same variables as the environment, so every rule and default applies unchanged:
 *
 *   defaults:            # for every database
 *     S3_BUCKET: backups
 *   databases:
 *     app: { DB_HOST: db1.internal, DB_PASSWORD_FILE: /run/secrets/app }
 *     billing: { DB_HOST: db2.internal, BACKUP_SCHEDULE: "30 1 * * *" }
 *
 * A database's DB_NAME defaults to its key.
 */
export interface ConfigFile {
  databases: { name: string; variables: Record<string, string> }[];
}

export function parseConfigFile(text: string, source: string): ConfigFile {
  let document: unknown;
  try {
    document = source.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw configError(
      `${source}: not valid ${source.endsWith('.json') ? 'JSON' : 'YAML'} (${firstLine(error)})`,
    );
  }
  const root = asMap(document, source);
  for (const key of Object.keys(root)) {
    if (key !== 'defaults' && key !== 'databases') throw configError(`${source}: unknown section "${key}"`);
  }
  const defaults = variables(root.defaults ?? {}, `${source}: defaults`);
  const databases = asMap(root.databases, `${source}: databases`);
  const entries = Object.entries(databases).map(([name, entry]) => ({
    name,
    variables: { DB_NAME: name, ...defaults, ...variables(entry ?? {}, `${source}: databases.${name}`) },
  }));
  if (entries.length === 0) throw configError(`${source}: databases: lists no database`);
  const names = entries.map((e) => e.variables.DB_NAME);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated) throw configError(`${source}: databases: DB_NAME "${repeated}" appears twice`);
  return { databases: entries };
}

function variables(value: unknown, where: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(asMap(value, where)).map(([name, v]) => {
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw configError(`${where}: "${name}" is not a variable name`);
      if (!['string', 'number', 'boolean'].includes(typeof v))
        throw configError(`${where}.${name}: expected a value`);
      return [name, String(v)];
    }),
  );
}

function asMap(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw configError(`${where}: expected a map`);
  return value as Record<string, unknown>;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
