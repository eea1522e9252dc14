import { log } from '@temporalio/activity';
import { secretsOf, type Config } from '../src/config/index.js';
import type { RunOutcome } from '../src/core/outcome.js';
import { redact } from '../src/core/redact.js';
import type { WorkerMetrics } from '../src/metrics/registry.js';
import { failureNotification, postWebhook } from '../src/notify/webhook.js';

/** A run's outcome as a workflow sends it: `database` may be left out when the workers serve only one. */
export type ReportedRun = Omit<RunOutcome, 'database'> & { database?: string };

/** The end of every run: this worker's metrics, and a notification when the run failed. */
export function createReportActivities(config: Config, metrics: WorkerMetrics) {
  const secrets = secretsOf(config);
  return {
    /** Never throws for the webhook: a notification that cannot be sent must not fail the run's report. */
    async reportRun(reported: ReportedRun): Promise<void> {
      const outcome: RunOutcome = {
        ...reported,
        // Routed by database, so this is the database the run was for, also when the workflow did not name it.
        database: config.database.name,
        error: reported.error === undefined ? undefined : redact(reported.error, secrets),
      };
      metrics.recordRun(outcome);
      const { webhookUrl } = config.monitoring;
      if (outcome.ok || !webhookUrl) return;
      try {
        await postWebhook(webhookUrl, failureNotification(outcome, config.temporal));
      } catch (error) {
        log.error('failure notification not sent', {
          workflowId: outcome.workflowId,
          error: redact(error instanceof Error ? error.message : String(error), secrets),
        });
      }
    },
  };
}

export type ReportActivities = ReturnType<typeof createReportActivities>;
