import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The unit tests of the workspace lock (lib/lock, DESIGN §6.6), for mutation testing with
 * `npx stryker run stryker.lock.config.mjs`. They use an embedded DynamoDB (dynalite) or a mocked client;
 * the runner suites (rotation, history budget) start Step Functions and would run once per mutant.
 */
export default defineConfig({
  test: {
    ...base.test,
    include: [
      'tests/lock/lease.test.ts',
      'tests/lock/handlers.test.ts',
      'tests/lock/events.test.ts',
      'tests/lock/errors.test.ts',
      'tests/lock/lease.mutation.test.ts',
      'tests/lock/item.mutation.test.ts',
    ],
    exclude: ['**/node_modules/**', 'tests/lock/rotation.test.ts', 'tests/lock/history-budget.test.ts'],
  },
});
