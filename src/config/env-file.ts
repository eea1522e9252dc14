import { configError } from '../core/errors.js';

const LINE = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/;

/**
 * Parses a shell-style env file (the guide's /etc/goimg/backup.env): KEY=VALUE lines, optional
 * `export`, comments, single or double quotes. Stricter than dotenv on purpose: a line we cannot
 * read is an error naming the line, never silently skipped.
 */
export function parseEnvFile(text: string, source: string): Record<string, string> {
  const values: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = LINE.exec(line);
    if (!match) throw configError(`${source} line ${index + 1}: expected KEY=VALUE`);
    const [, key, rawValue] = match as unknown as [string, string, string];
    values[key] = unquote(rawValue.trim(), `${source} line ${index + 1}`);
  });
  return values;
}

function unquote(value: string, where: string): string {
  const quote = value[0];
  if (quote !== '"' && quote !== "'") return value.replace(/\s+#.*$/, '');
  const end = closingQuote(value, quote);
  if (end < 0) throw configError(`${where}: unterminated ${quote} quote`);
  const rest = value.slice(end + 1).trim();
  if (rest !== '' && !rest.startsWith('#'))
    throw configError(`${where}: unexpected text after the closing quote`);
  const inner = value.slice(1, end);
  return quote === '"' ? inner.replace(/\\(["\\$`])/g, '$1').replace(/\\n/g, '\n') : inner;
}

/** The index of the closing quote; inside double quotes a backslash escapes the next character. */
function closingQuote(value: string, quote: string): number {
  for (let i = 1; i < value.length; i += 1) {
    if (quote === '"' && value[i] === '\\') i += 1;
    else if (value[i] === quote) return i;
  }
  return -1;
}
