import type { GrowingUpload, GrowingUploadOptions } from '../types.js';
import type { S3Place } from './client.js';
import { abortIncomplete, checkBucket, startUpload, uploadPart } from './multipart.js';

/**
 * Starts uploading a file that is still being written: each part goes once the writer is past its
 * end, one at a time. A failure only costs time: it stops the streaming, and putFile with the
 * settled checkpoint sends whatever is missing, as does a backlog left when the writer finished.
 */
export async function startGrowingUpload(
  place: S3Place,
  key: string,
  localPath: string,
  options: GrowingUploadOptions,
): Promise<GrowingUpload> {
  await checkBucket(place);
  await abortIncomplete(place, key);
  const checkpoint = await startUpload(place, key, options.expectedMaxSize, options);
  let nextPart = 1;
  let sending = Promise.resolve();
  // Stops on the first failure, and when the writer is done: the rest goes with concurrency.
  let stopped = false;
  return {
    partSize: checkpoint.partSize,
    grew: (written, checksums) => {
      for (; !stopped && nextPart * checkpoint.partSize <= written; nextPart += 1) {
        const range = {
          partNumber: nextPart,
          start: (nextPart - 1) * checkpoint.partSize,
          end: nextPart * checkpoint.partSize - 1,
        };
        sending = sending.then(async () => {
          if (stopped) return;
          try {
            const known = checksums?.[range.partNumber - 1];
            checkpoint.parts.push(
              await uploadPart(place, checkpoint, localPath, range, options.signal, known),
            );
          } catch {
            stopped = true;
          }
        });
      }
    },
    settle: async (finalSize) => {
      stopped = true;
      await sending;
      return { ...checkpoint, size: finalSize, parts: [...checkpoint.parts] };
    },
  };
}
