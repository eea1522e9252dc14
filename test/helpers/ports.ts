import { createServer } from 'node:net';

/** True when nothing listens on 127.0.0.1:port and it may be bound now. */
async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port the system picks as free at this moment (another process may take it later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port was assigned');
  return address.port;
}

/**
 * The first port of a block of `count` free ports from which each offset in `alsoOffsets` is free
 * too (SeaweedFS binds each port + 10000 for gRPC). Fixed ports collided with a second test run on
 * the same machine; a block chosen at random in 20000-29999 and checked does not.
 */
export async function freePortBlock(count: number, alsoOffsets: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 9_900);
    const wanted = Array.from({ length: count }, (_, i) => base + i);
    const all = [...wanted, ...alsoOffsets.flatMap((offset) => wanted.map((p) => p + offset))];
    const free = await Promise.all(all.map(isFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no block of ${count} free ports found in 50 tries`);
}
