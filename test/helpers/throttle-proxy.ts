import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/** Lets bytes through at a rate that may change (read on each chunk), so a transfer lasts long enough to interrupt. */
class Throttle extends Transform {
  /** When the bytes let through so far are due, at the rates they came at. */
  private due = Date.now();

  constructor(private readonly bytesPerSecond: () => number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.due = Math.max(this.due, Date.now()) + (chunk.length / this.bytesPerSecond()) * 1000;
    setTimeout(() => callback(null, chunk), Math.max(0, this.due - Date.now()));
  }
}

export interface ThrottleProxy {
  url: string;
  /** Changes the rate of every connection, open or to come. */
  setBytesPerSecond(rate: number): void;
  close(): Promise<void>;
}

/** A TCP proxy on loopback in front of target; requests (uploads) are slowed to bytesPerSecond. */
export async function startThrottleProxy(target: URL, bytesPerSecond: number): Promise<ThrottleProxy> {
  let rate = bytesPerSecond;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(new Throttle(() => rate)).pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setBytesPerSecond: (next) => {
      rate = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
