// Where the PostgreSQL client tools run: on this host, or inside the database's container
// (USE_DOCKER, the operations guide's `docker exec ... pg_dump`). One place builds every command line.

/** Where a database's client tools run; DatabaseConfig has this shape. */
export interface ToolPlace {
  /** DOCKER_CONTAINER when USE_DOCKER=true: the tools run there through `docker exec`. */
  dockerContainer?: string;
}

export interface CommandLine {
  file: string;
  args: string[];
}

/** What Docker accepts as a container name (and what an id looks like). */
export const DOCKER_CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * `tool args` here, or `docker exec -i -e NAME... CONTAINER tool args`. Variables are passed by name
 * only: docker copies each value from its own environment, so a password never appears in argv.
 * `-i` keeps stdin open, for tools that read the archive from it.
 */
export function toolCommandLine(
  tool: string,
  args: string[],
  passEnv: string[],
  place: ToolPlace,
): CommandLine {
  // A NAME=value would put the value on the command line, where `ps` shows it.
  const misnamed = passEnv.find((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  if (misnamed !== undefined) throw new Error(`not a variable name: ${misnamed.split('=')[0]}`);
  if (!place.dockerContainer) return { file: tool, args };
  return {
    file: 'docker',
    args: ['exec', '-i', ...passEnv.flatMap((name) => ['-e', name]), place.dockerContainer, tool, ...args],
  };
}
