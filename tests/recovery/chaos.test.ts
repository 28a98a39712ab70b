import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parseScenario } from '../../local/scenario.ts';
import { ACCOUNT, baseScenario, expectSafe, type Json, run } from './harness.ts';

/**
 * Seeded chaos (DESIGN §6): fast-check draws workspaces (every kind of compute in random states and
 * sources), the use cases, the active-runs policy, platform timings and up to three faults — Databricks
 * answers (429 storms, 5xx, dropped and lost answers, short lists), a user or an auto-start bringing
 * compute back, Lambda, KMS and S3 faults — and checks the safety invariants from the emulators' final
 * state after each run. On failure fast-check prints the seed and the shrunk scenario; replay with
 * `CHAOS_SEED=<seed> npx vitest run tests/recovery/chaos.test.ts`. `CHAOS_RUNS` changes the number of runs.
 */

const RUNS = Number(process.env.CHAOS_RUNS ?? 200);
const SEED = Number(process.env.CHAOS_SEED ?? 20_261_130);

const ENDPOINTS = [
  ['GET', '/api/2.0/accounts/*/workspaces/*'],
  ['PATCH', '/api/2.0/accounts/*/workspaces/*'],
  ['POST', '/api/2.0/accounts/*/customer-managed-keys'],
  ['GET', '/api/2.1/clusters/list'],
  ['POST', '/api/2.1/clusters/delete'],
  ['POST', '/api/2.1/clusters/start'],
  ['GET', '/api/2.0/instance-pools/list'],
  ['POST', '/api/2.0/instance-pools/edit'],
  ['GET', '/api/2.0/sql/warehouses'],
  ['POST', '/api/2.0/sql/warehouses/*/stop'],
  ['POST', '/api/2.0/sql/warehouses/*/start'],
  ['GET', '/api/2.2/jobs/list'],
  ['POST', '/api/2.2/jobs/update'],
  ['GET', '/api/2.2/jobs/runs/list'],
  ['POST', '/api/2.2/jobs/runs/cancel'],
  ['GET', '/api/2.0/pipelines'],
  ['POST', '/api/2.0/pipelines/*/stop'],
  ['POST', '/api/2.0/pipelines/*/updates'],
] as const;

const TASKS = [
  'Patch key policy',
  'Register key configuration',
  'Stop compute',
  'Check compute stopped',
  'Update workspace',
  'Check workspace',
  'Keep compute stopped during the storage wait',
  'Restore compute',
  'Check compute restored',
  'Check the workspace before restoring',
  'Restore compute after failure',
  'Check compute restored after failure',
] as const;

const databricksFault = fc.record({
  endpoint: fc.constantFrom(...ENDPOINTS),
  kind: fc.constantFrom(
    { status: 429, retryAfterSeconds: 2, times: 6 },
    { status: 500, times: 2 },
    { status: 503, times: 3 },
    { status: 0, times: 1 },
    { status: 0, after: true, times: 1 },
    { status: 500, times: 1000 },
  ),
  skip: fc.nat({ max: 6 }),
});

const awsFault = fc.oneof(
  fc.record({
    service: fc.constant('lambda' as const),
    operation: fc.constantFrom(...TASKS),
    error: fc.constantFrom('Lambda.Unknown', 'States.Timeout', 'Sandbox.Timedout'),
    after: fc.boolean(),
    times: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    service: fc.constant('kms' as const),
    operation: fc.constantFrom('DescribeKey', 'GetKeyPolicy', 'PutKeyPolicy'),
    error: fc.constantFrom('KMSInternalException', 'ThrottlingException'),
    after: fc.boolean(),
    times: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    service: fc.constant('s3' as const),
    operation: fc.constantFrom('GetObject', 'PutObject', 'DeleteObject'),
    error: fc.constantFrom('InternalError', 'SlowDown'),
    after: fc.boolean(),
    times: fc.integer({ min: 1, max: 3 }),
    skip: fc.nat({ max: 8 }),
  }),
);

const cluster = (prefix: string, i: number) =>
  fc.record({
    cluster_id: fc.constant(`${prefix}-c${i}`),
    state: fc.constantFrom('RUNNING', 'RUNNING', 'TERMINATED', 'PENDING'),
    cluster_source: fc.constantFrom('UI', 'API', 'JOB'),
  });

const workspaceCompute = (prefix: string, jobBase: number) =>
  fc.record({
    clusters: fc
      .integer({ min: 0, max: 4 })
      .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => cluster(prefix, i)))),
    warehouses: fc.integer({ min: 0, max: 2 }).chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.record({
            id: fc.constant(`${prefix}wh${i}`),
            state: fc.constantFrom('RUNNING', 'STOPPED'),
            enable_serverless_compute: fc.boolean(),
          }),
        ),
      ),
    ),
    instancePools: fc.integer({ min: 0, max: 1 }).chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.record({
            instance_pool_id: fc.constant(`${prefix}-pool${i}`),
            instance_pool_name: fc.constant('pool'),
            node_type_id: fc.constant('i3.xlarge'),
            min_idle_instances: fc.integer({ min: 0, max: 2 }),
            idle_instance_autotermination_minutes: fc.constantFrom(10, 30),
          }),
        ),
      ),
    ),
    jobs: fc.integer({ min: 0, max: 2 }).chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.record({
            job_id: fc.constant(jobBase + i),
            settings: fc.record({
              name: fc.constant(`job${i}`),
              schedule: fc.record({
                quartz_cron_expression: fc.constant('0 0 2 * * ?'),
                timezone_id: fc.constant('UTC'),
                pause_status: fc.constantFrom('UNPAUSED', 'PAUSED'),
              }),
            }),
          }),
        ),
      ),
    ),
    pipelines: fc.integer({ min: 0, max: 1 }).chain((n) =>
      fc.tuple(
        ...Array.from({ length: n }, (_, i) =>
          fc.record({
            pipeline_id: fc.constant(`${prefix}-p${i}`),
            state: fc.constantFrom('RUNNING', 'IDLE'),
            spec: fc.record({ continuous: fc.boolean() }),
          }),
        ),
      ),
    ),
    runs: fc.constant([] as Json[]),
  });

const chaos = fc.record({
  two: fc.boolean(),
  storage: fc.boolean(),
  activeRuns: fc.constantFrom('cancel', 'wait'),
  w1: workspaceCompute('w1', 100),
  w2: workspaceCompute('w2', 200),
  workspaceUpdate: fc.integer({ min: 60, max: 1800 }),
  databricks: fc.array(databricksFault, { maxLength: 2 }),
  aws: fc.array(awsFault, { maxLength: 1 }),
  comesBack: fc.option(
    fc.record({
      cluster: fc.constantFrom('w1-c0', 'w1-c1'),
      afterStopSeconds: fc.integer({ min: 0, max: 1500 }),
    }),
  ),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
});

type Chaos = typeof chaos extends fc.Arbitrary<infer T> ? T : never;

function scenarioOf(c: Chaos) {
  const base = baseScenario({ storage: c.storage, twoWorkspaces: c.two }) as unknown as Json;
  const db = base.databricks as Json;
  const workspaces = (db.workspaces as Json[]).map((w, i) => ({
    workspace_id: w.workspace_id,
    workspace_name: w.workspace_name,
    deployment_name: w.deployment_name,
    managed_services_customer_managed_key_id: w.managed_services_customer_managed_key_id,
    ...(i === 0 ? c.w1 : c.w2),
  }));
  const clusterIds = new Set(workspaces.flatMap((w) => (w.clusters as Json[]).map((x) => x.cluster_id)));
  return parseScenario({
    name: 'chaos',
    aws: { ...(base.aws as Json), faults: c.aws },
    databricks: {
      accountId: db.accountId,
      keyConfigs: db.keyConfigs,
      workspaces,
      seed: c.seed,
      timings: { ...(db.timings as Json), workspaceUpdate: [c.workspaceUpdate, c.workspaceUpdate + 120] },
      faults: [
        ...c.databricks.map((f) => ({ method: f.endpoint[0], path: f.endpoint[1], skip: f.skip, ...f.kind })),
        ...(c.comesBack && clusterIds.has(c.comesBack.cluster)
          ? [
              {
                kind: 'startCluster',
                cluster_id: c.comesBack.cluster,
                afterStopSeconds: c.comesBack.afterStopSeconds,
              },
            ]
          : []),
      ],
    },
    settings: { storageWaitMinutes: 5, computeRestoreTimeoutMinutes: 20 },
    input: { ...(base.input as Json), activeRuns: c.activeRuns },
  });
}

describe('Chaos: random workspaces, timings and faults', () => {
  it(`keeps every safety invariant over ${RUNS} seeded runs (seed ${SEED})`, async () => {
    await fc.assert(
      fc.asyncProperty(chaos, async (c) => {
        const scenario = scenarioOf(c);
        expectSafe(scenario, await run(scenario), 'chaos');
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 1_200_000);
});

void ACCOUNT;
