import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { REPO_ROOT } from './services.js';

export const CLI = `${REPO_ROOT}dist/src/cli/main.js`;

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the built backupctl as a user would, with only the given environment (and PATH). */
export async function backupctl(
  args: string[],
  env: Record<string, string>,
  path = process.env.PATH ?? '',
): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run npm run build (npm test does)');
  const result = await execa(process.execPath, [CLI, ...args], {
    env: { PATH: path, HOME: process.env.HOME ?? '/root', ...env },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}
