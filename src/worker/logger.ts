import { DefaultLogger, type LogLevel, type LogMetadata } from '@temporalio/worker';

/** Warnings our design makes normal: the host and restore queues carry activities only, by intent. */
const EXPECTED = ['No workflows registered, not polling for workflow tasks'];

/** The SDK's logger, less the warnings an operator should not learn to ignore. */
export class WorkerLogger extends DefaultLogger {
  override log(level: LogLevel, message: string, meta?: LogMetadata): void {
    if (level === 'WARN' && EXPECTED.some((expected) => message.startsWith(expected))) return;
    super.log(level, message, meta);
  }
}
