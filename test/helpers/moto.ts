import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';
import { REPO_ROOT } from './services.js';

const MOTO_SERVER = `${REPO_ROOT}.tools/bin/moto_server`;
/** It loads its service models on start: a few seconds on a slow machine. */
const START_TIMEOUT_MS = 30_000;

export interface MotoServer {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * moto's S3 server (scripts/setup.sh installs it into .tools/), for what SeaweedFS does not do:
 * archive storage classes that refuse reads until restored. State lives in its memory only.
 */
export async function startMoto(): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  let exitReason: string | undefined;
  const ended = new Promise<void>((resolve) => {
    const end = (reason: string) => {
      exitReason = reason;
      resolve();
    };
    child.once('exit', (code, signal) => end(`exited with ${signal ?? code}`));
    child.once('error', (error) => end(error.message));
  });
  const stop = async () => {
    if (exitReason === undefined) child.kill();
    await ended;
  };
  for (const deadline = Date.now() + START_TIMEOUT_MS; !(await answers(endpoint)); await sleep(100)) {
    if (exitReason !== undefined || Date.now() > deadline) {
      await stop();
      throw new Error(`${MOTO_SERVER} did not start (${exitReason ?? 'no answer'}): run scripts/setup.sh`);
    }
  }
  return { endpoint, stop };
}

async function answers(endpoint: string): Promise<boolean> {
  return fetch(endpoint).then(
    (response) => response.ok,
    () => false,
  );
}

/**
 * moto finishes a restore at once. After this, a restore shows in progress on the next look at the
 * object (HeadObject, GetObject) and done from the one after on, through moto's state manager.
 * Only its "manual" progression does that: with a timed one, an object shows restored before its
 * first step.
 */
export async function slowDownRestores(endpoint: string): Promise<void> {
  await callMotoApi(endpoint, 'set-transition', {
    model_name: 's3::keyrestore',
    transition: { progression: 'manual', times: 1 },
  });
}

export async function resetRestores(endpoint: string): Promise<void> {
  await callMotoApi(endpoint, 'unset-transition', { model_name: 's3::keyrestore' });
}

async function callMotoApi(endpoint: string, action: string, body: object): Promise<void> {
  const response = await fetch(`${endpoint}/moto-api/state-manager/${action}`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`moto ${action}: HTTP ${response.status}`);
}
