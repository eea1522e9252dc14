import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests share one Temporal server, one bucket and one PostgreSQL: run files one by one.
    fileParallelism: false,
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
