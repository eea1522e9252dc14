import { execa, type ResultPromise } from 'execa';
import { CLI, programBaseEnv } from './cli.js';

/**
 * `backupctl worker` as a process of its own, with only the given environment: a worker that a
 * test can kill outright (SIGKILL), as a crash or an OOM kill would.
 */
export function startWorkerProcess(env: Record<string, string>): ResultPromise {
  return execa(process.execPath, [CLI, 'worker'], {
    env: { ...programBaseEnv(), ...env },
    extendEnv: false,
    reject: false,
    stdio: 'ignore',
  });
}

/** Kills a worker process at once, with no chance to clean up, and waits until it is gone. */
export async function killWorker(worker: ResultPromise): Promise<void> {
  worker.kill('SIGKILL');
  await worker;
}

/** Polls probe every interval until it returns something, up to timeoutMs. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
