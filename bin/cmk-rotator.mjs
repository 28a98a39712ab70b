#!/usr/bin/env node
/**
 * The `cmk-rotator` command (package.json `bin`): runs cli/main.ts through tsx (a devDependency), from a
 * clone after `npm ci`: `npx cmk-rotator <command> …`. The repository pins Node 22; under an older Node this
 * launcher starts itself again with the pinned one (node_modules/node), so `./bin/cmk-rotator.mjs` works too.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = realpathSync(fileURLToPath(import.meta.url));
const root = join(dirname(self), '..');
const args = process.argv.slice(2);

if (Number(process.versions.node.split('.')[0]) < 22) {
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    process.stderr.write(
      `cmk-rotator needs Node 22 (this is ${process.version}); run npm ci in ${root} first\n`,
    );
    process.exit(2);
  }
  const child = spawnSync(pinned, [self, ...args], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

// The product's structured logs would drown the output (and break --json); --verbose shows them.
process.env.POWERTOOLS_LOG_LEVEL = args.includes('--verbose')
  ? (process.env.POWERTOOLS_LOG_LEVEL ?? 'DEBUG')
  : 'SILENT';

let register;
try {
  ({ register } = await import('tsx/esm/api'));
} catch {
  process.stderr.write(`cmk-rotator runs its TypeScript through tsx: run npm ci in ${root} first\n`);
  process.exit(2);
}
register();
const { main } = await import('../cli/main.ts');
const code = await main(args);
process.exit(code);
