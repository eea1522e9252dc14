import { pipeline, type Readable, type Transform } from 'node:stream';

/** source through a pass-through stage; a failure of either destroys the other, so it reaches the reader. */
export function chain(source: Readable, stage: Transform): Transform {
  return pipeline(source, stage, () => undefined);
}
