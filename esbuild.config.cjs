/**
 * esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
 * and bench/bundles.ts, so the benchmark measures what gets deployed.
 *
 * - One minified ESM bundle per function (`.mjs`, so the nodejs22.x runtime loads it as a module): middy 6 is
 *   ESM-first, and ESM lets esbuild drop what a function does not import.
 * - keepNames: error classes take their `name` from the class (`new.target.name`) and the state machine's
 *   Retry/Catch match on it; minification would otherwise rename `StorageKeyAlreadySet` to `a`.
 * - The AWS SDK v3 is bundled, not taken from the runtime: the runtime's copy changes under us without a
 *   deploy, the bundle pins the versions the tests ran with, and tree-shaking keeps only the clients and
 *   commands a function imports (bench/bundles.ts shows the cost).
 * - The banner gives CommonJS dependencies bundled into ESM a `require` for Node built-ins.
 */
const options = {
  bundle: true,
  minify: true,
  keepNames: true,
  sourcemap: false,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  legalComments: 'none',
};

/** serverless-esbuild's `config` hook: its own options plus the esbuild ones. */
module.exports = () => ({
  ...options,
  outputFileExtension: '.mjs',
  // Nothing external: the SDK is bundled (see above). serverless-esbuild excludes `aws-sdk` (v2) by default.
  exclude: [],
  external: [],
  packager: 'npm',
});
module.exports.esbuildOptions = options;
