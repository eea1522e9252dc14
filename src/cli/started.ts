import type { TemporalConfig } from '../config/index.js';

/**
 * Prints a started run's workflow id and its link in the Temporal UI: on stdout when the command does
 * not wait (they are its output, as JSON with --json), on stderr above the progress when it does.
 * Returns the link.
 */
export function announceStarted(
  temporal: TemporalConfig,
  workflowId: string,
  options: { wait?: boolean; json?: boolean },
): string {
  const link = `${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${workflowId}`;
  if (!options.wait) {
    if (options.json) console.log(JSON.stringify({ workflowId, ui: link }));
    else console.log(`started ${workflowId}\n${link}`);
  } else if (!options.json) console.error(`started ${workflowId}\n${link}`);
  return link;
}
