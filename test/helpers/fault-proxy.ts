import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An S3 error answer: the HTTP status and the error code of its XML body. */
export interface S3Fault {
  status: number;
  code: string;
}

/** Decides, request by request, whether the proxy answers with an error instead of S3. */
export type FaultRule = (request: IncomingMessage) => S3Fault | undefined;

export interface FaultProxy {
  url: string;
  setRule(rule: FaultRule | undefined): void;
  /** How many requests the proxy answered with an error, and how many it passed on. */
  counts: { faults: number; passed: number };
  close(): Promise<void>;
}

/**
 * An HTTP proxy on loopback in front of an S3 endpoint that answers some requests itself with an S3
 * error (a 503 SlowDown, a 403 InvalidAccessKeyId, ...) and passes the others on unchanged: the
 * signature covers the Host header, which goes through as the client sent it.
 */
export async function startFaultProxy(target: URL): Promise<FaultProxy> {
  let rule: FaultRule | undefined;
  const counts = { faults: 0, passed: 0 };
  const server: Server = createServer((incoming, answer) => {
    const fault = rule?.(incoming);
    if (fault) {
      counts.faults += 1;
      incoming.resume(); // read the body the client sends, as S3 would, then answer
      incoming.on('end', () => {
        answer.writeHead(fault.status, { 'content-type': 'application/xml' });
        answer.end(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>${fault.code}</Code><Message>injected by the test's fault proxy</Message></Error>`);
      });
      return;
    }
    counts.passed += 1;
    const headers = { ...incoming.headers };
    delete headers.expect; // this server has already answered it with 100 Continue
    const upstream = request(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers },
      (response) => {
        answer.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(answer);
      },
    );
    upstream.on('error', () => answer.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setRule: (next) => {
      rule = next;
    },
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
