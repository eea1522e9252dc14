// Small helpers shared by the benchmark modules.
import console from 'node:console';
import { performance } from 'node:perf_hooks';

/** Progress goes to stderr; stdout carries the report and, last, the JSON line. */
export function log(message) {
  console.error(`bench: ${message}`);
}

export const seconds = (ms) => Math.round(ms) / 1000;
export const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
export const round = (value, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Runs work() and returns [result, elapsed milliseconds]. */
export async function timed(work) {
  const started = performance.now();
  const result = await work();
  return [result, performance.now() - started];
}
