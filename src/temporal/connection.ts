import { readFileSync } from 'node:fs';
import type { TemporalConfig } from '../config/index.js';
import { BackupError } from '../core/errors.js';

/** Connection options shared by the client and the worker: TLS (or mTLS) and API key for a real cluster. */
export function temporalConnectionOptions(config: TemporalConfig) {
  const tls = config.tls && {
    serverNameOverride: config.tls.serverName,
    serverRootCACertificate: config.tls.caFile ? readFileSync(config.tls.caFile) : undefined,
    clientCertPair:
      config.tls.certFile && config.tls.keyFile
        ? { crt: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) }
        : undefined,
  };
  return { address: config.address, tls, apiKey: config.apiKey };
}

/**
 * Temporal not reachable, as one line and a hint, for the client and the worker alike. The worker's
 * native connection reports a Rust debug string (`tonic::transport::Error(Transport,
 * ConnectError(...))`): its OS message ("Connection refused") or kind ("dns error") is the reason.
 */
export function temporalUnreachable(address: string, error: unknown): BackupError {
  const text = error instanceof Error ? error.message : String(error);
  const osMessage = /message: "([^"]+)"/.exec(text)?.[1];
  const kind = /ConnectError\("([^"]+)"/.exec(text)?.[1];
  const reason = osMessage?.toLowerCase() ?? kind ?? text;
  return new BackupError('General', `cannot reach Temporal at ${address}: ${reason}`, {
    hint: 'start it with scripts/services.sh up, or fix TEMPORAL_ADDRESS',
  });
}
