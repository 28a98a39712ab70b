// @ts-check
/**
 * Mutation testing of the safety-critical pure core (DESIGN §6): `npm run mutation`.
 * Not part of `npm test`: a full run takes tens of minutes on a 2-core machine (see docs/mutation.md).
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.stryker.config.ts', related: true },
  // The vitest runner always measures coverage per test, so each mutant runs only the tests that reach it.
  coverageAnalysis: 'perTest',
  mutate: [
    'lib/kms/policy.ts',
    'lib/compute/rules.ts',
    'lib/plan/trigger.ts',
    'lib/plan/scope.ts',
    'lib/plan/plan.ts',
    // How KMS would judge the key policy for Databricks' calling role (Allow and explicit Deny).
    'lib/kms/policy-eval.ts',
    // Recovery decisions: reconcile a lost PATCH, retry after a refusal, wait for the workspace to settle.
    'lib/workspace/update.ts',
    'lib/workspace/settle.ts',
  ],
  // Only what the unit tests import is copied into the sandbox.
  ignorePatterns: [
    '/*',
    '!/lib',
    '!/functions',
    // The plan's history budget reads the state machines.
    '!/statemachines',
    '!/tests',
    '!/package.json',
    '!/tsconfig.json',
    '!/vitest.config.ts',
    '!/vitest.stryker.config.ts',
    '/tests/emulator',
    '/tests/scenarios',
  ],
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: null },
};
