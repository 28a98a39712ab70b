import { ApiError, type WorkspaceClient } from '@databricks/sdk-experimental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Clock, setClock } from '../../lib/clock.ts';
import { isNotFound } from '../../lib/compute/read.ts';
import { DatabricksClient } from '../../lib/databricks/client.ts';
import { KEY_CONFIGS, workspaceWithEverything } from './fixtures.ts';
import { ACCOUNT, DEPLOYMENT, scenarioWith, sdkAgainstEmulator } from './harness.ts';

/**
 * What a missing resource answers, per API, held against the official SDKs' generated error overrides
 * (databricks-sdk-go `apierr/error_overrides.go`, databricks-sdk-py `databricks/sdk/errors/overrides.py`,
 * both "Code generated from OpenAPI specs"): the Clusters and Jobs APIs answer a missing cluster, job or run
 * with 400 INVALID_PARAMETER_VALUE "… does not exist", which those SDKs map to ResourceDoesNotExist; the other
 * APIs answer 404 RESOURCE_DOES_NOT_EXIST. Then the product's client must read every one of them as "gone".
 */
const OVERRIDES: Array<{ path: RegExp; message: RegExp }> = [
  { path: /^\/api\/2\.\d\/clusters\/get/, message: /Cluster .* does not exist/ },
  { path: /^\/api\/2\.\d\/jobs\/get/, message: /Job .* does not exist/ },
  {
    path: /^\/api\/2\.\d\/jobs\/runs\/get/,
    message: /(Run .* does not exist|Run: .* in job: .* doesn't exist)/,
  },
];

const scenario = scenarioWith({ keyConfigs: KEY_CONFIGS, workspaces: [workspaceWithEverything()] });
let env: Awaited<ReturnType<typeof sdkAgainstEmulator>>;
let w: WorkspaceClient;

beforeAll(async () => {
  env = await sdkAgainstEmulator(scenario);
  w = env.workspace();
});

afterAll(async () => {
  await env?.emu.close();
});

async function refusal(call: () => Promise<unknown>): Promise<ApiError> {
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ApiError)) throw new Error(`expected an ApiError, got ${String(error)}`);
  return error;
}

describe('A missing cluster, job or run (Clusters and Jobs APIs)', () => {
  it.each([
    ['clusters/get', () => w.clusters.get({ cluster_id: '0000-000000-gone00' })],
    ['jobs/get', () => w.jobs.get({ job_id: 999 })],
    ['jobs/runs/get', () => w.jobs.getRun({ run_id: 9999 })],
  ])('%s answers what the SDKs’ generated override maps to ResourceDoesNotExist', async (name, call) => {
    const error = await refusal(call);
    const override = OVERRIDES.find((o) => o.path.test(`/api/2.1/${name}`));

    expect(error).toMatchObject({ statusCode: 400, errorCode: 'INVALID_PARAMETER_VALUE' });
    expect(error.message).toMatch(override?.message ?? /never/);
  });

  it.each([
    [
      'clusters/delete',
      () => w.clusters.delete({ cluster_id: '0000-000000-gone00' }),
      /Cluster .* does not exist/,
    ],
    [
      'clusters/start',
      () => w.clusters.start({ cluster_id: '0000-000000-gone00' }),
      /Cluster .* does not exist/,
    ],
    ['jobs/update', () => w.jobs.update({ job_id: 999, new_settings: {} }), /Job .* does not exist/],
    ['jobs/runs/cancel', () => w.jobs.cancelRun({ run_id: 9999 }), /Run .* does not exist/],
  ])('%s answers the same 400 for the same missing resource', async (_name, call, message) => {
    const error = await refusal(call);

    expect(error).toMatchObject({ statusCode: 400, errorCode: 'INVALID_PARAMETER_VALUE' });
    expect(error.message).toMatch(message);
  });
});

describe('A missing warehouse, pipeline, pool, workspace or key configuration', () => {
  it.each([
    ['warehouses/get', () => w.warehouses.get({ id: 'gone' })],
    ['warehouses/stop', () => w.warehouses.stop({ id: 'gone' })],
    ['warehouses/start', () => w.warehouses.start({ id: 'gone' })],
    ['pipelines/get', () => w.pipelines.get({ pipeline_id: 'gone' })],
    ['pipelines/stop', () => w.pipelines.stop({ pipeline_id: 'gone' })],
    ['pipelines/updates', () => w.pipelines.startUpdate({ pipeline_id: 'gone' })],
    ['instance-pools/get', () => w.instancePools.get({ instance_pool_id: 'gone' })],
    ['workspaces/get', () => env.account.workspaces.get({ workspace_id: 42 })],
    ['customer-managed-keys/get', () => env.account.encryptionKeys.get({ customer_managed_key_id: 'gone' })],
  ])('%s answers 404 RESOURCE_DOES_NOT_EXIST', async (_name, call) => {
    const error = await refusal(call);

    expect(error).toMatchObject({ statusCode: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' });
  });
});

describe("The product's client on the same answers", () => {
  it('reads every missing-resource answer of every call it makes as "gone"', async () => {
    const previous: Clock = setClock(env.emu.clock);
    try {
      const client = new DatabricksClient({
        accountId: ACCOUNT,
        accountsHost: env.emu.url,
        workspaceUrlTemplate: env.emu.workspaceUrlTemplate,
        credentials: async () => scenario.databricks.servicePrincipal,
        maxAttempts: 1,
      });
      const api = client.workspace(DEPLOYMENT);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['getCluster', () => api.getCluster('0000-000000-gone00')],
        ['terminateCluster', () => api.terminateCluster('0000-000000-gone00')],
        ['startCluster', () => api.startCluster('0000-000000-gone00')],
        ['getInstancePool', () => api.getInstancePool('gone')],
        [
          'editInstancePool',
          () =>
            api.editInstancePool({
              instance_pool_id: 'gone',
              instance_pool_name: 'x',
              node_type_id: 'i3.xlarge',
            }),
        ],
        ['getWarehouse', () => api.getWarehouse('gone')],
        ['stopWarehouse', () => api.stopWarehouse('gone')],
        ['startWarehouse', () => api.startWarehouse('gone')],
        ['getJob', () => api.getJob(999)],
        ['updateJob', () => api.updateJob(999, { name: 'x' })],
        ['getRun', () => api.getRun(9999)],
        ['cancelRun', () => api.cancelRun(9999)],
        ['getPipeline', () => api.getPipeline('gone')],
        ['stopPipeline', () => api.stopPipeline('gone')],
        ['startPipelineUpdate', () => api.startPipelineUpdate('gone')],
        ['getWorkspace', () => client.account.getWorkspace(42)],
        ['getKeyConfig', () => client.account.getKeyConfig('gone')],
      ];

      const gone: Record<string, boolean> = {};
      for (const [name, call] of calls) gone[name] = await call().then(() => false, isNotFound);

      expect(gone).toEqual(Object.fromEntries(calls.map(([name]) => [name, true])));
    } finally {
      setClock(previous);
    }
  });
});
