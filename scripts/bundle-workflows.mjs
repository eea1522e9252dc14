// Part of `npm run build`: bundles the workflow code once, so a worker does not run webpack at start
// (which costs seconds and about 60 MB of memory that is never given back).
import console from 'node:console';
import { writeFile } from 'node:fs/promises';
import { bundleWorkflows, PREBUILT_BUNDLE_PATH } from '../dist/src/worker/index.js';

const { code } = await bundleWorkflows();
await writeFile(PREBUILT_BUNDLE_PATH, code);
console.error(`build: workflow bundle written to ${PREBUILT_BUNDLE_PATH}`);
