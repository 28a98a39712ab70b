// @ts-check
import base from './stryker.config.mjs';

/**
 * Mutation testing of the poll schedule and the history budget it bounds (DESIGN §6.10, §9):
 * `npm run mutation:poll`. The shared settings of stryker.config.mjs, with those two files and their own
 * unit tests (vitest.stryker-poll.config.ts).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'vitest.stryker-poll.config.ts' },
  mutate: ['lib/poll.ts', 'lib/plan/history-budget.ts'],
  ignorePatterns: [...(base.ignorePatterns ?? []), '!/vitest.stryker-poll.config.ts'],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/poll.json' },
  incrementalFile: 'reports/mutation/stryker-incremental-poll.json',
  tempDirName: '.stryker-tmp-poll',
};
