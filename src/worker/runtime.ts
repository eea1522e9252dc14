import { Runtime } from '@temporalio/worker';
import type { Config } from '../config/index.js';
import { configError } from '../core/errors.js';
import { sdkTelemetryOptions } from '../metrics/temporal.js';
import { WorkerLogger, writeLogLine } from './logger.js';

/**
 * Installs the Temporal SDK's Runtime for the worker: its logger is ours (one line per event, in
 * LOG_FORMAT, secrets redacted), and so are Core's lines, forwarded to it. The Runtime binds
 * TEMPORAL_METRICS_PORT here: a port in use is named as the variable, not as the SDK's message.
 */
export function installRuntime(config: Config, secrets: string[]): Runtime {
  const port = config.monitoring.temporalMetricsPort;
  try {
    return Runtime.install({
      logger: new WorkerLogger(config.debug ? 'DEBUG' : 'INFO', writeLogLine(config.logFormat, secrets)),
      telemetryOptions: sdkTelemetryOptions(port, config.debug),
    });
  } catch (error) {
    if (/address already in use/i.test(error instanceof Error ? error.message : String(error))) {
      throw configError(
        `TEMPORAL_METRICS_PORT: port ${port} is in use; choose another, or 0 to turn the SDK's metrics off`,
        'another program listens on it (ss -ltnp names it): often a second worker on this host',
      );
    }
    throw error;
  }
}
