/**
 * `npm run bench`: what DESIGN §9 asks to measure, reported as medians (machines are shared and noisy).
 * - rotation: each shipped success scenario, and a generated 1,000-resource workspace, on the local
 *   emulation. Time is virtual, so the simulated figures (compute window vs the platform minimum, API calls,
 *   transitions, history events, payload) are exact and the same on every run; only the real ms vary, and
 *   are the median of N runs;
 * - policy merge: median µs per merge of a realistic key policy;
 * - bundles: size and module-load time of each Lambda bundle (bench/bundles.ts).
 * - scale and throttling: one workspace of 100, 1,000 and 5,000 resources, as is, under a 429 storm on every
 *   cluster start (three per start), under Databricks limits of 4 req/s per workspace and 2 per account, and
 *   under 1 req/s each (where a large workspace's snapshot and pauses outlast one Lambda invocation);
 * - cost: Step Functions and Lambda cost per rotation.
 * Options: --runs N (default 5), --skip-bundles, --scale 100,1000,5000, --skip-accounts.
 */
import { parseArgs } from 'node:util';

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'skip-bundles': { type: 'boolean', default: false },
    /** Resources per workspace of the scale/throttling table (comma-separated). */
    scale: { type: 'string', default: '100,1000,5000' },
    'skip-accounts': { type: 'boolean', default: false },
  },
});
const runs = Math.max(1, Number(values.runs));

const { runScenario } = await import('../local/runner/run.ts');
const { loadScenario } = await import('../local/scenario.ts');
const { largeScenario, manyWorkspacesScenario } = await import('./large.ts');
const { mergeDatabricksStatements } = await import('../lib/kms/policy.ts');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

console.log(`# Rotations (virtual time: simulated figures exact; real ms the median of ${runs} runs)`);
console.log(
  '| scenario | real ms | window s | platform min s | window / minimum | API calls | transitions | history events | max payload B |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
const shipped = [
  'demo',
  'rotate-managed-services',
  'storage-first-time',
  'throttling-storm',
  'compute-comes-back',
];
for (const name of [...shipped, 'large-1000']) {
  const scenario =
    name === 'large-1000'
      ? largeScenario(1000)
      : await loadScenario(new URL(`../local/scenarios/${name}.json`, import.meta.url).pathname);
  const real: number[] = [];
  const ratio: number[] = [];
  const window: number[] = [];
  const minimum: number[] = [];
  const calls: number[] = [];
  const transitions: number[] = [];
  const payload: number[] = [];
  const history: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const report = await runScenario(scenario);
    real.push(performance.now() - started);
    if (report.status !== 'SUCCEEDED') throw new Error(`${name} did not succeed: ${report.error?.name}`);
    const d = report.downtime[0];
    if (d?.windowSeconds) {
      window.push(d.windowSeconds);
      minimum.push(d.platformMinimumSeconds);
      ratio.push(d.windowSeconds / d.platformMinimumSeconds);
    }
    calls.push(report.apiCalls.total);
    transitions.push(report.stateTransitions);
    payload.push(report.maxStatePayloadBytes);
    history.push(report.historyEvents);
  }
  console.log(
    `| ${name} | ${median(real).toFixed(0)} | ${median(window).toFixed(0)} | ${median(minimum).toFixed(0)} | ${median(ratio).toFixed(2)} | ${median(calls)} | ${median(transitions)} | ${median(history)} | ${median(payload)} |`,
  );
}

/** The Lambda Tasks of both state machines (the `.sync` child start is not a Lambda). */
const { readFileSync } = await import('node:fs');
const lambdaStates = new Set<string>();
for (const file of ['rotate-workspace-key', 'rotate-one-workspace']) {
  const collect = (
    states: Record<
      string,
      { Type: string; Resource?: string; ItemProcessor?: { States: Record<string, never> } }
    >,
  ) => {
    for (const [name, state] of Object.entries(states)) {
      if (state.Type === 'Task' && !String(state.Resource).startsWith('arn:aws:states:::'))
        lambdaStates.add(name);
      if (state.ItemProcessor) collect(state.ItemProcessor.States);
    }
  };
  collect(
    JSON.parse(readFileSync(new URL(`../statemachines/${file}.asl.json`, import.meta.url), 'utf8')).States,
  );
}
/**
 * Cost of one rotation at us-east-1 list prices (2026): Step Functions Standard $0.025 per 1,000 state
 * transitions (exact: counted); Lambda $0.20 per million requests (exact: counted) plus arm64 compute
 * $0.0000133334 per GB-s at the functions' 256 MB, with an ASSUMED billed duration of 300 ms per invocation
 * (the simulation does not measure Lambda CPU time).
 */
function costOf(report: { stateTransitions: number; states: Array<{ name: string }> }) {
  const invocations = report.states.filter((s) => lambdaStates.has(s.name)).length;
  const stepFunctions = (report.stateTransitions * 0.025) / 1000;
  const lambda = invocations * (0.2 / 1e6 + 0.25 * 0.3 * 0.0000133334);
  return { invocations, stepFunctions, lambda, total: stepFunctions + lambda };
}

console.log(
  '\n# Scale and throttling: one workspace of N resources (run once each; simulated figures exact)',
);
console.log(
  '| resources | Databricks | status | window / minimum | API calls / resource | transitions | history events | max payload B | Lambda invocations | cost per rotation $ | real s |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
const sizes = String(values.scale)
  .split(',')
  .map((x) => Number(x.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
for (const resources of sizes) {
  for (const variant of ['as is', '429 ×3 on every start', '4 / 2 req/s limits', '1 / 1 req/s limits']) {
    const scenario = largeScenario(resources);
    const clusters = (scenario.databricks.workspaces[0]?.clusters ?? []).length;
    if (variant.startsWith('429'))
      scenario.databricks.faults.push({
        method: 'POST',
        path: '/api/2.1/clusters/start',
        status: 429,
        retryAfterSeconds: 2,
        times: 3 * clusters,
        after: false,
        skip: 0,
      } as never);
    if (variant.startsWith('4 /')) scenario.databricks.rateLimits = { workspace: 4, account: 2 } as never;
    if (variant.startsWith('1 /')) scenario.databricks.rateLimits = { workspace: 1, account: 1 } as never;
    const started = performance.now();
    const report = await runScenario(scenario);
    const realS = (performance.now() - started) / 1000;
    const d = report.downtime[0];
    const ratio = d?.windowSeconds ? (d.windowSeconds / d.platformMinimumSeconds).toFixed(3) : '-';
    const status = report.status === 'SUCCEEDED' ? 'SUCCEEDED' : `FAILED ${report.error?.name ?? ''}`;
    const cost = costOf(report);
    console.log(
      `| ${resources} | ${variant} | ${status} | ${ratio} | ${(report.apiCalls.total / resources).toFixed(2)} | ${report.stateTransitions} | ${report.historyEvents} | ${report.maxStatePayloadBytes} | ${cost.invocations} | ${cost.total.toFixed(4)} | ${realS.toFixed(1)} |`,
    );
  }
}

console.log(
  '\n# Cost per rotation, shipped scenarios (transitions and invocations counted; Lambda duration assumed 300 ms)',
);
console.log('| scenario | transitions | Step Functions $ | Lambda invocations | Lambda $ | total $ |');
console.log('|---|---|---|---|---|---|');
for (const name of ['rotate-managed-services', 'storage-first-time', 'demo']) {
  const report = await runScenario(
    await loadScenario(new URL(`../local/scenarios/${name}.json`, import.meta.url).pathname),
  );
  const cost = costOf(report);
  console.log(
    `| ${name} | ${report.stateTransitions} | ${cost.stepFunctions.toFixed(5)} | ${cost.invocations} | ${cost.lambda.toFixed(5)} | ${cost.total.toFixed(5)} |`,
  );
}

if (!values['skip-accounts']) {
  console.log(
    '\n# Account size: workspaces of a few resources each, one execution (run once; simulated figures exact)',
  );
  console.log(
    '| workspaces | status | real s | largest history (of 25,000) | largest state payload B (of 262,144) | simulated h |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const count of [250, 1000]) {
    const started = performance.now();
    const report = await runScenario(manyWorkspacesScenario(count));
    const status = report.status === 'SUCCEEDED' ? 'SUCCEEDED' : `FAILED ${report.error?.name ?? ''}`;
    console.log(
      `| ${count} | ${status} | ${((performance.now() - started) / 1000).toFixed(0)} | ${report.historyEvents} | ${report.maxStatePayloadBytes} | ${(report.simulatedSeconds / 3600).toFixed(1)} |`,
    );
  }
}

console.log('\n# Key policy merge');
const policy = JSON.stringify({
  Version: '2012-10-17',
  Statement: Array.from({ length: 40 }, (_, i) => ({
    Sid: `Statement ${i}`,
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::111122223333:role/role-${i}` },
    Action: ['kms:Decrypt', 'kms:DescribeKey'],
    Resource: '*',
  })),
});
const grant = {
  useCases: ['MANAGED_SERVICES', 'STORAGE'] as Array<'MANAGED_SERVICES' | 'STORAGE'>,
  databricksPrincipalArn: 'arn:aws:iam::414351767826:root',
  accountIds: ['0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e'],
  ebsRoleArn: 'arn:aws:iam::111122223333:role/databricks-cross-account',
  reuseKeyForClusterVolumes: true,
};
const samples: number[] = [];
for (let batch = 0; batch < 9; batch++) {
  const started = performance.now();
  for (let i = 0; i < 200; i++) mergeDatabricksStatements(policy, grant);
  samples.push(((performance.now() - started) * 1000) / 200);
}
console.log(
  `median ${median(samples).toFixed(1)} µs per merge of a 40-statement policy (${policy.length} B), 9 batches of 200`,
);

if (!values['skip-bundles']) {
  console.log('\n# Lambda bundles');
  const { benchBundles } = await import('./bundles.ts');
  await benchBundles({ runs: Math.max(3, runs), print: true });
}
