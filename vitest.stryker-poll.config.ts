import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The unit tests of the poll schedule (lib/poll.ts) and of the history budget (lib/plan/history-budget.ts),
 * for mutation testing with `npm run mutation:poll`. The runner suites that also cover them
 * (tests/poll/rotation.test.ts, the recovery budget) start Step Functions and would run once per mutant.
 */
export default defineConfig({
  test: {
    ...base.test,
    include: [
      'tests/poll/poll.test.ts',
      'tests/poll/poll.mutation.test.ts',
      'tests/plan/history-budget-throttled.test.ts',
      'tests/plan/history-budget.mutation.test.ts',
      'tests/plan/plan.inputs.mutation.test.ts',
    ],
    exclude: ['**/node_modules/**'],
  },
});
