import { readFileSync } from 'node:fs';
import type { TemporalConfig } from '../config/index.js';

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
