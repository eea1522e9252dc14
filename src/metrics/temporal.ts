import type { TelemetryOptions } from '@temporalio/worker';

/**
 * The Temporal SDK's own metrics (pollers, task latencies, slots: temporal_*) on their own port, for
 * Runtime.install; undefined (no exporter) when TEMPORAL_METRICS_PORT is 0.
 */
export function sdkTelemetryOptions(port: number): TelemetryOptions | undefined {
  if (port === 0) return undefined;
  return { metrics: { prometheus: { bindAddress: `0.0.0.0:${port}` } } };
}
