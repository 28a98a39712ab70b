/**
 * `npm run bench`: what DESIGN §9 asks to measure, reported as medians (machines are shared and noisy).
 * - rotation: each shipped success scenario, and a generated 1,000-resource workspace, on the local
 *   emulation. Time is virtual, so the simulated figures (compute window vs the platform minimum, API calls,
 *   transitions, history events, payload) are exact and the same on every run; only the real ms vary, and
 *   are the median of N runs;
 * - policy merge: median µs per merge of a realistic key policy;
 * - bundles: size and module-load time of each Lambda bundle (bench/bundles.ts).
 * Options: --runs N (default 5), --skip-bundles.
 */
import { parseArgs } from 'node:util';

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'skip-bundles': { type: 'boolean', default: false } },
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
