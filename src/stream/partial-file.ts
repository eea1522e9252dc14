import type { WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';

/**
 * Removes a .partial file once its writer has let go of it. A write stream opens its file
 * asynchronously: removed while the open is still pending (a run aborted at once), the file would
 * be created again afterwards and left behind.
 */
export async function discardPartial(writer: WriteStream, path: string): Promise<void> {
  writer.destroy();
  // Not once(): it would reject on the error a failed pipeline destroyed the writer with.
  if (!writer.closed) await new Promise<void>((resolve) => writer.once('close', () => resolve()));
  await rm(path, { force: true });
}
