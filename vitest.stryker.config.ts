import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/**
 * The unit tests that exercise the pure core Stryker mutates (`npm run mutation`). Emulator and scenario
 * suites are left out: they start servers and simulated clocks, and would run once per mutant.
 */
export default defineConfig({
  test: {
    ...base.test,
    include: [
      'tests/kms/**/*.test.ts',
      'tests/plan/**/*.test.ts',
      'tests/compute/rules.test.ts',
      'tests/compute/rules.*.test.ts',
      'tests/workspace/workspace.test.ts',
      'tests/workspace/deny.test.ts',
      'tests/workspace/recovery.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/*.emulator.test.ts'],
  },
});
