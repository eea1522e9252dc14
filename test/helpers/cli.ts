import { existsSync, readFileSync } from 'node:fs';
import { execa } from 'execa';
import { expect } from 'vitest';
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
  return run(process.execPath, [CLI, ...args], env, path);
}

/**
 * Runs the built backupctl as the installed command runs (npm's bin link, the image's
 * /usr/local/bin/backupctl): through its `#!` line, which the kernel splits into the interpreter and
 * one argument. Node reads some flags of its own on that command line.
 */
export async function installedBackupctl(args: string[], env: Record<string, string>): Promise<CliRun> {
  const shebang = readFileSync(CLI, 'utf8').split('\n')[0]!;
  const [interpreter, argument] = shebang.slice(2).trim().split(/ (.*)/s);
  return run(interpreter!, [...(argument ? [argument] : []), CLI, ...args], env, process.env.PATH ?? '');
}

/**
 * What every program a test starts gets besides its own variables. TMPDIR is the run's own folder
 * (global-teardown.ts): a worker's gpg home goes there, and its agent is stopped at the end of the
 * run even when the worker was killed outright.
 */
export function programBaseEnv(path = process.env.PATH ?? ''): Record<string, string> {
  return {
    PATH: path,
    HOME: process.env.HOME ?? '/root',
    ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  };
}

async function run(file: string, args: string[], env: Record<string, string>, path: string): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run npm run build (npm test does)');
  const result = await execa(file, args, {
    env: { ...programBaseEnv(path), ...env },
    extendEnv: false,
    reject: false,
    timeout: 120_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/**
 * A clean failure: the exit code, one `error: ` line that matches, nothing after it but a `hint: `
 * line, and no stack trace anywhere.
 */
export function expectOneLineError(run: CliRun, code: number, message: RegExp): void {
  expect(run.exitCode, run.stderr).toBe(code);
  const lines = run.stderr.trimEnd().split('\n');
  const errors = lines.filter((l) => l.startsWith('error: '));
  expect(errors, run.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(message);
  const after = lines.slice(lines.indexOf(errors[0]!) + 1);
  expect(after.length, run.stderr).toBeLessThanOrEqual(1);
  for (const line of after) expect(line).toMatch(/^hint: /);
  expect(run.stderr + run.stdout).not.toMatch(/^\s+at /m); // no stack trace
}
