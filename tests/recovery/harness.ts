import { expect } from 'vitest';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { parseScenario, type Scenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

export type Json = Record<string, unknown>;

export const OLD_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
export const NEW_KEY_ID = '5678abcd-56ef-78ab-90cd-567890abcdef';
export const ACCOUNT = '111122223333';
export const OLD_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${OLD_KEY_ID}`;
export const NEW_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${NEW_KEY_ID}`;
export const OLD_CONFIG = '11111111-aaaa-4bbb-8ccc-000000000001';

/** A key policy with only the account's own admin statement (no Databricks grant). */
export const adminPolicy = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ],
};

/** The compute of one small but complete workspace: every kind the rotation stops and restores. */
export function workspaceResources(prefix = 'w1'): Json {
  return {
    clusters: [
      { cluster_id: `${prefix}-ui`, cluster_name: 'etl', state: 'RUNNING', cluster_source: 'UI' },
      { cluster_id: `${prefix}-api`, cluster_name: 'api', state: 'RUNNING', cluster_source: 'API' },
      { cluster_id: `${prefix}-off`, cluster_name: 'off', state: 'TERMINATED', cluster_source: 'UI' },
    ],
    instancePools: [
      {
        instance_pool_id: `${prefix}-pool`,
        instance_pool_name: 'pool',
        node_type_id: 'i3.xlarge',
        min_idle_instances: 1,
        idle_instance_autotermination_minutes: 30,
        stats: { idle_count: 1, used_count: 0, pending_idle_count: 0, pending_used_count: 0 },
      },
    ],
    warehouses: [{ id: `${prefix}wh01`, name: 'bi', state: 'RUNNING', warehouse_type: 'PRO' }],
    jobs: [
      {
        job_id: prefix === 'w1' ? 11 : 21,
        settings: {
          name: 'nightly',
          schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
        },
      },
    ],
    pipelines: [
      { pipeline_id: `${prefix}-pipe`, name: 'ingest', state: 'RUNNING', spec: { continuous: true } },
    ],
  };
}

export interface BaseOptions {
  /** Add a storage key (first time) together with managed services. */
  storage?: boolean;
  /** Two workspaces on the old key. */
  twoWorkspaces?: boolean;
  databricksFaults?: unknown[];
  awsFaults?: unknown[];
  settings?: Json;
  timings?: Json;
  name?: string;
}

/** A rotation of one (or two) small workspaces from the old key to the new one, with fast platform timings. */
export function baseScenario(options: BaseOptions = {}): Scenario {
  const workspaces = [
    {
      workspace_id: 1234567890123456,
      workspace_name: 'prod',
      deployment_name: 'acme-prod',
      managed_services_customer_managed_key_id: OLD_CONFIG,
      ...workspaceResources('w1'),
    },
    ...(options.twoWorkspaces
      ? [
          {
            workspace_id: 2234567890123456,
            workspace_name: 'dev',
            deployment_name: 'acme-dev',
            managed_services_customer_managed_key_id: OLD_CONFIG,
            ...workspaceResources('w2'),
          },
        ]
      : []),
  ];
  return parseScenario(
    {
      name: options.name ?? 'recovery',
      aws: {
        accountId: ACCOUNT,
        keys: [
          { keyId: OLD_KEY_ID, aliases: ['alias/databricks-old'], policy: adminPolicy },
          { keyId: NEW_KEY_ID, aliases: ['alias/databricks-managed-services'], policy: adminPolicy },
        ],
        faults: options.awsFaults ?? [],
      },
      databricks: {
        keyConfigs: [
          {
            customer_managed_key_id: OLD_CONFIG,
            use_cases: ['MANAGED_SERVICES'],
            aws_key_info: { key_arn: OLD_KEY },
          },
        ],
        workspaces,
        timings: {
          clusterTerminate: [20, 60],
          clusterStart: [60, 120],
          warehouseStop: [10, 30],
          warehouseStart: [30, 60],
          poolIdleRelease: [10, 20],
          pipelineStop: [10, 30],
          pipelineStart: [30, 60],
          workspaceUpdate: [120, 300],
          apiLatencyMs: [5, 20],
          ...options.timings,
        },
        faults: options.databricksFaults ?? [],
      },
      settings: { storageWaitMinutes: 3, ...options.settings },
      input: {
        workspaceIds: workspaces.map((w) => w.workspace_id),
        keyArn: NEW_KEY,
        useCases: options.storage ? ['MANAGED_SERVICES', 'STORAGE'] : ['MANAGED_SERVICES'],
        activeRuns: 'cancel',
      },
    },
    options.name,
  );
}

export function run(scenario: Scenario): Promise<Report> {
  return runScenario(scenario);
}

const SAFETY_INVARIANTS = [
  'storage-key-never-replaced',
  'key-policy-statements-preserved',
  'no-patch-without-usable-key',
  'nothing-started-during-window',
  'everything-restored',
  'rejected-plan-touched-nothing',
  'secrets-never-exposed',
];

/**
 * What must hold after any fault, read from the emulators' final state (DESIGN §6): every workspace RUNNING
 * on the old or the new key; everything that ran runs again or is named in the execution's error; no
 * schedule paused unreported; no storage key changed; nothing ran between the stop and the end of the
 * storage wait; the error fits Step Functions' limits.
 */
export function expectSafe(scenario: Scenario, report: Report, label = ''): void {
  // The one case where the ids cannot be named: the snapshot store refused every read of the snapshot
  // for the whole recovery. Then the error must say so and name where the snapshot is.
  const snapshotLost =
    report.status === 'FAILED' &&
    /compute snapshot s3:\/\/\S+ could not be read/.test(report.error?.cause ?? '') &&
    /NOT fully restored/.test(report.error?.cause ?? '');
  const failing = report.invariants
    .filter((i) => SAFETY_INVARIANTS.includes(i.name) && !i.holds)
    .filter((i) => !(snapshotLost && i.name === 'everything-restored'))
    .map((i) => `${i.name}: ${i.detail}`);
  expect(
    failing,
    `${label}: invariants (${report.status} ${report.error?.name ?? ''}: ${report.error?.cause.slice(0, 1500) ?? ''})`,
  ).toEqual([]);
  const configs = report.final.databricks.keyConfigs as Json[];
  const keyOf = (id: unknown) =>
    ((configs.find((c) => c.customer_managed_key_id === id)?.aws_key_info as Json | undefined)?.key_arn ??
      null) as string | null;
  for (const before of scenario.databricks.workspaces as unknown as Json[]) {
    const after = (report.final.databricks.workspaces as Json[]).find(
      (w) => w.workspace_id === before.workspace_id,
    ) as Json;
    expect(after.workspace_status, `${label}: workspace ${String(before.workspace_id)} status`).toBe(
      'RUNNING',
    );
    expect([OLD_KEY, NEW_KEY], `${label}: managed services key`).toContain(
      keyOf(after.managed_services_customer_managed_key_id),
    );
    const storage = after.storage_customer_managed_key_id;
    if (storage) expect(keyOf(storage), `${label}: storage key`).toBe(NEW_KEY);
  }
  if (report.error) {
    expect(report.error.cause.length, `${label}: error cause length`).toBeLessThan(32_768);
    expect(report.error.name, `${label}: a named error`).not.toMatch(
      /^(Error|TypeError|RangeError|ZodError)$/,
    );
  }
}
