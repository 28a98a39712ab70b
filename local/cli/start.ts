/**
 * `npm start [-- --scenario FILE] [--report OUT.json] [--time-scale N] [--quiet] [--verbose]`
 * Runs a full rotation on the embedded local Databricks/AWS emulation and exits 0 only if it succeeded.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DEMO = fileURLToPath(new URL('../scenarios/demo.json', import.meta.url));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string' },
      report: { type: 'string' },
      'time-scale': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: npm start -- [--scenario FILE] [--report OUT.json] [--time-scale N] [--quiet] [--verbose]\n',
    );
    return 0;
  }
  // The product's structured logs would drown the timeline; --verbose shows them.
  process.env.POWERTOOLS_LOG_LEVEL ??= values.verbose ? 'DEBUG' : 'SILENT';
  const { loadScenario } = await import('../scenario.ts');
  const { runScenario } = await import('../runner/run.ts');
  const { progressPrinter, summarize } = await import('../runner/progress.ts');

  const file = values.scenario ?? DEMO;
  const scenario = await loadScenario(file);
  const timeScale = values['time-scale'] === undefined ? undefined : Number(values['time-scale']);
  if (timeScale !== undefined && !(timeScale >= 0))
    throw new Error('--time-scale must be 0 (as fast as possible) or a positive number');
  if (!values.quiet) process.stdout.write(`Running scenario "${scenario.name}" (${file})\n`);
  const started = Date.now();
  // Time is virtual: the scale only paces the run for watching (the report is the same at any scale).
  const report = await runScenario(scenario, {
    timeScale: timeScale ?? scenario.timeScale ?? 0,
    onEvent: values.quiet ? undefined : progressPrinter(),
  });
  if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
  if (values.quiet) {
    process.stdout.write(
      `${JSON.stringify({ scenario: report.scenario, status: report.status, error: report.error })}\n`,
    );
  } else {
    process.stdout.write(`${summarize(report, Date.now() - started).join('\n')}\n`);
    if (values.report) process.stdout.write(`Report written to ${values.report}\n`);
  }
  return report.status === 'SUCCEEDED' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    process.exit(2);
  },
);
