import type { TemporalConfig } from '../config/index.js';
import type { RunOutcome } from '../core/outcome.js';

/** A Slack-compatible message (`text`), with the facts as fields for other receivers to read. */
export interface FailureNotification {
  text: string;
  kind: RunOutcome['kind'];
  database: string;
  workflowId: string;
  errorKind: string;
  error: string;
  durationMs: number;
  /** The run in the Temporal UI. */
  url: string;
}

export function runUrl(temporal: TemporalConfig, workflowId: string): string {
  return `${temporal.uiUrl}/namespaces/${encodeURIComponent(temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export function failureNotification(outcome: RunOutcome, temporal: TemporalConfig): FailureNotification {
  const url = runUrl(temporal, outcome.workflowId);
  const errorKind = outcome.errorKind ?? 'General';
  const error = outcome.error ?? 'no message';
  return {
    text: `:rotating_light: ${outcome.kind} of ${outcome.database} failed (${errorKind}): ${error}\n<${url}|${outcome.workflowId}>`,
    kind: outcome.kind,
    database: outcome.database,
    workflowId: outcome.workflowId,
    errorKind,
    error,
    durationMs: outcome.durationMs,
    url,
  };
}

/**
 * POSTs the notification. Throws a message without the URL (it is a secret: whoever has it can post
 * to the channel), so callers may log it as it is.
 */
export async function postWebhook(webhookUrl: string, body: FailureNotification): Promise<void> {
  let response: Response;
  try {
    response = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    // fetch's own message may quote the URL: only the code of the cause is safe to show.
    const reason =
      (error as { cause?: { code?: string } }).cause?.code ??
      (error instanceof Error && error.name === 'TimeoutError' ? 'no answer within 10 s' : undefined);
    throw new Error(`the webhook cannot be reached${reason ? ` (${reason})` : ''}`);
  }
  await response.body?.cancel();
  if (!response.ok) throw new Error(`the webhook answered HTTP ${response.status}`);
}
