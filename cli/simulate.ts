import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HELP, parseCommand } from './flags.ts';
import type { Io } from './io.ts';

export const SIMULATE_HELP = `usage: cmk-rotator simulate [--scenario FILE] [--report OUT.json] [--time-scale N] [--quiet] [--verbose]

A full key rotation on the embedded local Databricks and AWS emulation, in virtual time: exactly what
\`npm start\` runs (local/cli/start.ts; README § Local mode), with the same flags. Prints the timeline and a
summary. Exit code: 0 the rotation succeeded, 1 it failed, 2 a command-line or scenario error.

  --scenario FILE     scenario to run (default: local/scenarios/demo.json)
  --report OUT.json   also write the JSON run report there (checked before the run starts)
  --time-scale N      pace: simulated seconds per real second (0 = as fast as possible; default: the
                      scenario's timeScale, else 0). The report is the same at any pace.
  --quiet             print only {scenario, status, error} as JSON
  --verbose           also print the product's structured logs
  -h, --help          this help

examples:
  npx cmk-rotator simulate
  npx cmk-rotator simulate --scenario local/scenarios/storage-first-time.json --time-scale 0
  npx cmk-rotator simulate --scenario my-workspace.json --report out/report.json --quiet
`;

const OPTIONS = {
  ...HELP,
  scenario: { type: 'string' },
  report: { type: 'string' },
  'time-scale': { type: 'string' },
  quiet: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

const START = fileURLToPath(new URL('../local/cli/start.ts', import.meta.url));

/**
 * Delegates to local/cli/start.ts (npm start) in a process of its own, with the same flags: the local run
 * installs its own clock, clients and environment, and ends by exiting. Flags are checked here first, so a
 * mistake is answered with this command's usage.
 */
export async function simulateCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseCommand(OPTIONS, args);
  if (values.help) {
    io.out(SIMULATE_HELP);
    return 0;
  }
  const tsx = import.meta.resolve('tsx');
  const child = spawnSync(process.execPath, ['--import', tsx, START, ...args], {
    stdio: 'inherit',
    env: {
      ...process.env,
      POWERTOOLS_LOG_LEVEL: values.verbose ? (process.env.POWERTOOLS_LOG_LEVEL ?? 'DEBUG') : 'SILENT',
    },
  });
  if (child.error) throw child.error;
  return child.status ?? 1;
}
