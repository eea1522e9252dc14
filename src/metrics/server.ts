import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { configError } from '../core/errors.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on every interface (0.0.0.0), as exporters do, for a Prometheus on another
 * host; the output holds no secret. A port in use fails the worker's start: running unmonitored
 * would be a silent failure.
 */
export async function serveMetrics(registry: Registry, port: number): Promise<MetricsServer> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end('see /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(`${String(error)}\n`),
    );
  });
  await listen(server, port);
  // The pollers keep a worker alive; a worker that failed to start must be able to exit.
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? configError(`METRICS_PORT: port ${port} is in use; choose another, or 0 to turn /metrics off`)
          : error,
      ),
    );
    server.listen(port, '0.0.0.0', () => resolve());
  });
}
