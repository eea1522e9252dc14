/** The text with every secret (a password, a passphrase, a key) replaced by [redacted]: safe to log or report. */
export function redact(text: string, secrets: string[]): string {
  return secrets.reduce((result, secret) => result.split(secret).join('[redacted]'), text);
}
