import { ApplicationFailure } from '@temporalio/common';

// `never` parameters admit every activity signature; each one's first argument carries `database`.
type Activities = Record<string, (request: never, ...rest: never[]) => Promise<unknown>>;

/**
 * One worker, several databases: every activity's first argument names its database (DB_NAME), and
 * the call goes to that database's activities. A request that names none goes to the only one.
 */
export function routeByDatabase<T extends Activities>(byDatabase: Map<string, T>): T {
  const [first] = byDatabase.values();
  if (!first) throw new Error('routeByDatabase needs at least one database');
  const route = (database?: string): T => {
    const target = database === undefined && byDatabase.size === 1 ? first : byDatabase.get(database ?? '');
    if (target) return target;
    throw ApplicationFailure.create({
      type: 'Configuration',
      nonRetryable: true,
      message: `this worker does not back up database ${database ?? '(none named)'}; it has ${[...byDatabase.keys()].join(', ')}`,
    });
  };
  return Object.fromEntries(
    Object.keys(first).map((name) => [
      name,
      (request: { database?: string }, ...rest: never[]) =>
        route(request?.database)[name]!(request as never, ...rest),
    ]),
  ) as unknown as T;
}
