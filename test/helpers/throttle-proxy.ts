import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/** Lets bytes through at a fixed rate, so an upload to a local server lasts long enough to interrupt. */
class Throttle extends Transform {
  private allowanceStart = Date.now();
  private sent = 0;

  constructor(private readonly bytesPerSecond: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.sent += chunk.length;
    const due = this.allowanceStart + (this.sent / this.bytesPerSecond) * 1000;
    setTimeout(() => callback(null, chunk), Math.max(0, due - Date.now()));
  }
}

export interface ThrottleProxy {
  url: string;
  close(): Promise<void>;
}

/** A TCP proxy on loopback in front of target; requests (uploads) are slowed to bytesPerSecond. */
export async function startThrottleProxy(target: URL, bytesPerSecond: number): Promise<ThrottleProxy> {
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
    client.pipe(new Throttle(bytesPerSecond)).pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
