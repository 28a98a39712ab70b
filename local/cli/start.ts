/**
 * `npm start [-- --scenario FILE] [--report OUT.json|OUT.html]… [--time-scale N] [--quiet] [--verbose] [-h]`
 * Runs a full rotation on the embedded local Databricks/AWS emulation and exits 0 only if it succeeded.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertReadableFile, assertWritableFile, parseFlags, UsageError } from './args.ts';

const DEMO = fileURLToPath(new URL('../scenarios/demo.json', import.meta.url));

const USAGE = `usage: npm start -- [--scenario FILE] [--report OUT.json|OUT.html]... [--time-scale N] [--quiet] [--verbose]

Runs a full key rotation on the embedded local Databricks and AWS emulation (virtual time) and prints a
timeline and a summary. Exit code: 0 the rotation succeeded, 1 it failed, 2 a command-line or scenario error.

  --scenario FILE     scenario to run (default: local/scenarios/demo.json)
  --report FILE       also write the run report there, checked before the run starts: FILE.html is one
                      self-contained page to look at (timeline, downtime, what stopped and came back,
                      API calls, invariants), any other name the JSON report; may be given twice
  --time-scale N      pace: simulated seconds per real second (0 = as fast as possible; default: the
                      scenario's timeScale, else 0). The report is the same at any pace.
  --quiet             print only {scenario, status, error} as JSON
  --verbose           also print the product's structured logs
  -h, --help          this help

examples:
  npm start
  npm start -- --scenario local/scenarios/storage-first-time.json --time-scale 0
  npm start -- --scenario my-workspace.json --report out/report.json --report out/report.html --quiet
`;

async function main(): Promise<number> {
  const values = parseFlags({
    scenario: { type: 'string' },
    report: { type: 'string', multiple: true },
    'time-scale': { type: 'string' },
    quiet: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  // Everything a person can get wrong on the command line is refused before the run, not after it.
  const timeScale = values['time-scale'] === undefined ? undefined : Number(values['time-scale']);
  if (timeScale !== undefined && !(timeScale >= 0))
    throw new UsageError(
      `--time-scale must be 0 (as fast as possible) or a positive number, got ${values['time-scale']}`,
    );
  if (values.scenario !== undefined) assertReadableFile(values.scenario, '--scenario');
  const reports = values.report ?? [];
  for (const path of reports) assertWritableFile(path, '--report');
  // The product's structured logs would drown the timeline; --verbose shows them.
  process.env.POWERTOOLS_LOG_LEVEL ??= values.verbose ? 'DEBUG' : 'SILENT';
  const { loadScenario } = await import('../scenario.ts');
  const { runScenario } = await import('../runner/run.ts');
  const { progressPrinter, summarize } = await import('../runner/progress.ts');

  const file = values.scenario ?? DEMO;
  const scenario = await loadScenario(file);
  if (!values.quiet) process.stdout.write(`Running scenario "${scenario.name}" (${file})\n`);
  const started = Date.now();
  // Time is virtual: the scale only paces the run for watching (the report is the same at any scale).
  const printer = values.quiet ? undefined : progressPrinter();
  const report = await runScenario(scenario, {
    timeScale: timeScale ?? scenario.timeScale ?? 0,
    onEvent: printer,
  });
  for (const path of reports) {
    if (/\.html?$/i.test(path)) {
      const { renderHtmlReport } = await import('../runner/html-report.ts');
      writeFileSync(path, renderHtmlReport(report));
    } else writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (values.quiet) {
    process.stdout.write(
      `${JSON.stringify({ scenario: report.scenario, status: report.status, error: report.error })}\n`,
    );
  } else {
    const stories = printer?.workspaceStories() ?? [];
    if (stories.length > 0) process.stdout.write(`\n${stories.join('\n')}\n`);
    process.stdout.write(`${summarize(report, Date.now() - started).join('\n')}\n`);
    for (const path of reports) process.stdout.write(`Report written to ${path}\n`);
  }
  return report.status === 'SUCCEEDED' ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`${error.name}: ${error.message}\n`);
    if (error instanceof UsageError)
      process.stderr.write(`${USAGE.split('\n')[0]}\n(npm start -- --help for more)\n`);
    process.exit(2);
  },
);
