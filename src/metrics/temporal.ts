import type { TelemetryOptions } from '@temporalio/worker';

/**
 * The Temporal SDK's telemetry, for Runtime.install: Core's own log lines forwarded to the Runtime's
 * logger (so they are one line each, in LOG_FORMAT, like ours), and its metrics (pollers, task
 * latencies, slots: temporal_*) on their own port, none when TEMPORAL_METRICS_PORT is 0.
 */
export function sdkTelemetryOptions(port: number, debug: boolean): TelemetryOptions {
  return {
    logging: { forward: {}, filter: { core: debug ? 'INFO' : 'WARN', other: 'ERROR' } },
    ...(port === 0 ? {} : { metrics: { prometheus: { bindAddress: `0.0.0.0:${port}` } } }),
  };
}
