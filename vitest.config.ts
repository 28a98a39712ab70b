import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Structured logs would drown the test output; tests that inspect logs raise the level themselves.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  },
});
