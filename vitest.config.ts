import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Two files at a time: each integration file has its own databases, task queues, bucket prefix,
    // ports and temporary folders (uniqueName, tempDir, free ports), and most of a file's time is
    // spent waiting on the services, the outages it injects and the timeouts it proves.
    fileParallelism: true,
    maxWorkers: 2,
    // Tests marked concurrent (the docs examples, each with its own database and queue): two at a time.
    maxConcurrency: 2,
    pool: 'forks',
    testTimeout: 120_000,
    // The pinned AWS SDK warns on each process that its 2027 releases need Node 22.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    hookTimeout: 120_000,
    globalSetup: ['./test/helpers/global-teardown.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
