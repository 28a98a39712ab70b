// @ts-check
import base from './stryker.config.mjs';

/**
 * Mutation testing of the workspace lock (DESIGN §6.6, docs/lock.md): `npx stryker run stryker.lock.config.mjs`.
 * The shared settings of stryker.config.mjs, with the lock's files, its own unit tests
 * (vitest.stryker-lock.config.ts) and the embedded DynamoDB they start (local/aws) in the sandbox.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  ...base,
  vitest: { ...base.vitest, configFile: 'vitest.stryker-lock.config.ts' },
  mutate: ['lib/lock/lease.ts', 'lib/lock/item.ts', 'lib/lock/events.ts'],
  ignorePatterns: [
    ...(base.ignorePatterns ?? []),
    '!/local',
    '/local/*',
    '!/local/aws',
    '!/vitest.stryker-lock.config.ts',
  ],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: 'reports/mutation/lock.json' },
  incrementalFile: 'reports/mutation/stryker-incremental-lock.json',
  tempDirName: '.stryker-tmp-lock',
};
