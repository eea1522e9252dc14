/** Runs work and adds its wall time, in whole milliseconds, to what it returns. */
export async function timed<T extends object>(work: () => Promise<T>): Promise<T & { durationMs: number }> {
  const started = performance.now();
  const result = await work();
  return { ...result, durationMs: Math.round(performance.now() - started) };
}
