import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { LogFormat } from '../config/index.js';
import { redact } from '../core/redact.js';

/** Warnings our design makes normal: the host and restore queues carry activities only, by intent. */
const EXPECTED = ['No workflows registered, not polling for workflow tasks'];

/**
 * The worker's logger, the Runtime's (so the SDK's own lines, Core's included, come through it):
 * every event one line on stderr, secrets replaced by [redacted], less the warnings an operator
 * should not learn to ignore.
 */
export class WorkerLogger extends DefaultLogger {
  constructor(level: LogLevel, logFunction: (entry: LogEntry) => void = writeLogLine('json', [])) {
    super(level, logFunction);
  }

  override log(...[level, message, meta]: Parameters<DefaultLogger['log']>): void {
    if (level === 'WARN' && EXPECTED.some((expected) => message.startsWith(expected))) return;
    super.log(level, message, meta);
  }
}

/** A log function that writes each entry as one line in the format, with the secrets redacted. */
export function writeLogLine(format: LogFormat, secrets: string[]): (entry: LogEntry) => void {
  return (entry) => process.stderr.write(`${formatLogLine(entry, format, secrets)}\n`);
}

/**
 * One entry as one line. JSON keeps everything, error stacks included (JSON escapes their line
 * breaks); pretty shows `time LEVEL message key=value ...`, errors as their message and causes.
 */
export function formatLogLine(entry: LogEntry, format: LogFormat, secrets: string[]): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = plain(entry.meta ?? {}, secrets, format === 'json') as Record<string, unknown>;
  const message = redact(entry.message, secrets);
  if (format === 'json') return JSON.stringify({ time, level: entry.level, message, ...meta });
  const fields = Object.entries(meta).map(([key, value]) => `${key}=${prettyValue(value)}`);
  return [time, entry.level.padEnd(5), oneLine(message), ...fields].join(' ');
}

/**
 * A value JSON can hold, with every string redacted: errors become their name, message, cause
 * (and stack, when kept), bigints strings; cycles and depth are cut short rather than thrown on.
 */
function plain(value: unknown, secrets: string[], keepStacks: boolean, depth = 0): unknown {
  if (typeof value === 'string') return redact(value, secrets);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value;
  if (depth > 6) return '[…]';
  const recurse = (v: unknown) => plain(v, secrets, keepStacks, depth + 1);
  if (value instanceof Error) {
    const { message, stack, cause } = value;
    // Failures rebuilt from Temporal's protobufs are named Error; their class says what they are.
    const name = value.name === 'Error' ? value.constructor.name : value.name;
    const own = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, recurse(v)]));
    return {
      ...own,
      name,
      message: recurse(message),
      ...(keepStacks && stack ? { stack: recurse(stack) } : {}),
      ...(cause === undefined ? {} : { cause: recurse(cause) }),
    };
  }
  if (Array.isArray(value)) return value.map(recurse);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, recurse(v)]));
}

function prettyValue(value: unknown): string {
  // JSON.stringify escapes line breaks: a quoted value is always one line.
  if (isPlainError(value)) return JSON.stringify(errorChain(value));
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? 'undefined';
}

function isPlainError(value: unknown): value is { name: string; message: string; cause?: unknown } {
  return typeof value === 'object' && value !== null && 'name' in value && 'message' in value;
}

/** "Name: message; cause: Name: message", for a person: the stack stays in the JSON format. */
function errorChain(error: { name: string; message: string; cause?: unknown }): string {
  const text = `${error.name}: ${error.message}`;
  return isPlainError(error.cause) ? `${text}; cause: ${errorChain(error.cause)}` : text;
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}
