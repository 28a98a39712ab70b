import { afterEach, describe, expect, it } from 'vitest';
import { type Clock, setClock } from '../../lib/clock.ts';
import {
  DatabricksApiError,
  DatabricksAuthError,
  DatabricksClient,
  type DatabricksClientOptions,
} from '../../lib/databricks/client.ts';
import { type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { parseScenario } from '../../local/scenario.ts';
import { thrown } from './setup.ts';

const ACCOUNT = '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e';
const SP = { clientId: 'sp-emulated', clientSecret: 'emulated-secret-value-77' };
const WS_ID = 1234567890123456;
const ARN = (id: string) => `arn:aws:kms:us-east-1:111122223333:key/${id}`;
const KEY_CONFIGS = [
  {
    customer_managed_key_id: 'cmk-old',
    use_cases: ['MANAGED_SERVICES'],
    aws_key_info: { key_arn: ARN('00000000-0000-4000-8000-000000000001') },
  },
  {
    customer_managed_key_id: 'cmk-new',
    use_cases: ['MANAGED_SERVICES', 'STORAGE'],
    aws_key_info: { key_arn: ARN('00000000-0000-4000-8000-000000000002') },
  },
];

let emu: StartedEmulator | undefined;
let previousClock: Clock | undefined;

/** Starts the emulator with `workspace` (merged into a default one) and a client pointed at it. */
async function setup(
  workspace: Record<string, unknown> = {},
  databricks: Record<string, unknown> = {},
  options: Partial<DatabricksClientOptions> = {},
  timeScale = 6000,
): Promise<{ emu: StartedEmulator; client: DatabricksClient }> {
  const scenario = parseScenario({
    databricks: {
      accountId: ACCOUNT,
      servicePrincipal: SP,
      keyConfigs: KEY_CONFIGS,
      workspaces: [
        {
          workspace_id: WS_ID,
          deployment_name: 'acme-prod',
          managed_services_customer_managed_key_id: 'cmk-old',
          ...workspace,
        },
      ],
      ...databricks,
    },
  });
  emu = await startEmulator(scenario, { timeScale });
  previousClock = setClock(emu.clock);
  const client = new DatabricksClient({
    accountId: ACCOUNT,
    accountsHost: emu.url,
    workspaceUrlTemplate: emu.workspaceUrlTemplate,
    credentials: async () => SP,
    ...options,
  });
  return { emu, client };
}

/** Polls `read` until `done`, jumping the simulated clock 60 s between reads (at most `limit` times). */
async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, limit = 200): Promise<T> {
  let value = await read();
  for (let i = 0; i < limit && !done(value); i++) {
    emu?.clock.advance(60);
    value = await read();
  }
  return value;
}

/** Platform durations long enough (in real time too) that the state right after a call is observable. */
const SLOW = { clusterTerminate: [3000, 3000], clusterStart: [3000, 3000], workspaceUpdate: [3000, 3000] };

describe('DatabricksClient against the emulator', () => {
  afterEach(async () => {
    if (previousClock) setClock(previousClock);
    await emu?.close();
    emu = undefined;
  });

  it('authenticates once per host and reuses the tokens', async () => {
    // Prepare
    // Emulated tokens live 3600 simulated seconds: a slower clock keeps this test inside one lifetime.
    const { emu, client } = await setup(
      { clusters: [{ cluster_id: 'c-1', state: 'TERMINATED' }] },
      {},
      {},
      600,
    );

    // Act
    await client.account.getWorkspace(WS_ID);
    await client.account.listKeyConfigs();
    await Promise.all([1, 2, 3].map(() => client.workspace('acme-prod').getCluster('c-1')));
    await client.workspace('acme-prod').listClusters();

    // Assess
    const tokenCalls = emu.callLog().filter((c) => c.path.includes('/v1/token'));
    expect(tokenCalls.map((c) => `${c.host} ${c.status}`)).toEqual(['account 200', 'acme-prod 200']);
  });

  it('follows clusters/list over more than one page with a state filter', async () => {
    // Prepare
    const clusters = Array.from({ length: 130 }, (_, i) => ({
      cluster_id: `c-${i}`,
      state: i % 2 === 0 ? 'RUNNING' : 'TERMINATED',
    }));
    const { emu, client } = await setup({ clusters });

    // Act
    const all = await client.workspace('acme-prod').listClusters();
    const running = await client
      .workspace('acme-prod')
      .listClusters({ cluster_states: ['RUNNING', 'PENDING'] });

    // Assess
    expect(all).toHaveLength(130);
    expect(running).toHaveLength(65);
    expect(running.every((c) => c.state === 'RUNNING')).toBe(true);
    expect(emu.callLog().filter((c) => c.path.startsWith('/api/2.1/clusters/list')).length).toBe(3);
  });

  it('surfaces the PATCH refusal while compute runs as INVALID_STATE', async () => {
    // Prepare
    const { client } = await setup({ clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] });

    // Act
    const error = await thrown(() =>
      client.account.updateWorkspaceKeys(WS_ID, { managed_services_customer_managed_key_id: 'cmk-new' }),
    );

    // Assess
    expect(error).toBeInstanceOf(DatabricksApiError);
    expect(error.status).toBe(400);
    expect(error.errorCode).toBe('INVALID_STATE');
    expect(error.message).toContain(
      `PATCH /api/2.0/accounts/${ACCOUNT}/workspaces/${WS_ID} (account API) failed: 400 INVALID_STATE`,
    );
  });

  it('surfaces the refusal to replace a storage key as INVALID_PARAMETER_VALUE', async () => {
    // Prepare
    const { client } = await setup(
      { storage_customer_managed_key_id: 'cmk-old-storage' },
      {
        keyConfigs: [
          ...KEY_CONFIGS,
          {
            customer_managed_key_id: 'cmk-old-storage',
            use_cases: ['STORAGE'],
            aws_key_info: { key_arn: ARN('00000000-0000-4000-8000-000000000003') },
          },
        ],
      },
    );

    // Act
    const error = await thrown(() =>
      client.account.updateWorkspaceKeys(WS_ID, { storage_customer_managed_key_id: 'cmk-new' }),
    );

    // Assess
    expect(error.status).toBe(400);
    expect(error.errorCode).toBe('INVALID_PARAMETER_VALUE');
  });

  it('surfaces the refusal to start a job cluster', async () => {
    // Prepare
    const { client } = await setup({
      clusters: [{ cluster_id: 'job-1', state: 'TERMINATED', cluster_source: 'JOB' }],
    });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').startCluster('job-1'));

    // Assess
    expect(error.status).toBe(400);
    expect(error.errorCode).toBe('INVALID_PARAMETER_VALUE');
    expect(error.message).toContain(
      'POST /api/2.1/clusters/start (workspace acme-prod) failed: 400 INVALID_PARAMETER_VALUE',
    );
  });

  it('surfaces an unknown cluster as Databricks answers it: 400 INVALID_PARAMETER_VALUE "does not exist"', async () => {
    // Prepare
    const { client } = await setup();

    // Act
    const error = await thrown(() => client.workspace('acme-prod').getCluster('nope'));

    // Assess
    expect([error.status, error.errorCode, error.apiMessage]).toEqual([
      400,
      'INVALID_PARAMETER_VALUE',
      'Cluster nope does not exist',
    ]);
  });

  it('raises DatabricksAuthError for a wrong client secret', async () => {
    // Prepare
    const { client } = await setup(
      {},
      {},
      { credentials: async () => ({ ...SP, clientSecret: 'wrong-secret-123' }) },
    );

    // Act
    const error = await thrown(() => client.account.getWorkspace(WS_ID));

    // Assess
    expect(error).toBeInstanceOf(DatabricksAuthError);
    expect(error.errorCode).toBe('invalid_client');
    expect(JSON.stringify(error) + error.message).not.toContain('wrong-secret-123');
  });

  it('sees a terminated cluster reach TERMINATED on the scaled clock', async () => {
    // Prepare
    const { client } = await setup(
      { clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] },
      { timings: SLOW },
    );
    const ws = client.workspace('acme-prod');

    // Act
    await ws.terminateCluster('c-1');
    const right = await ws.getCluster('c-1');
    const finally_ = await pollUntil(
      () => ws.getCluster('c-1'),
      (c) => c.state === 'TERMINATED',
    );

    // Assess
    expect(right.state).toBe('TERMINATING');
    expect(finally_.state).toBe('TERMINATED');
  });

  it('treats starting an already-pending cluster as success', async () => {
    // Prepare
    const { emu, client } = await setup(
      { clusters: [{ cluster_id: 'c-1', state: 'TERMINATED' }] },
      { timings: SLOW },
    );
    const ws = client.workspace('acme-prod');
    await ws.startCluster('c-1');

    // Act
    await ws.startCluster('c-1');

    // Assess
    const starts = emu.callLog().filter((c) => c.path === '/api/2.1/clusters/start');
    expect(starts.map((c) => c.status)).toEqual([200, 400]);
    expect((await ws.getCluster('c-1')).state).toBe('PENDING');
  });

  it('treats starting a running pipeline as success and never asks for a full refresh', async () => {
    // Prepare
    const { emu, client } = await setup({
      pipelines: [{ pipeline_id: 'p-1', state: 'IDLE', spec: { continuous: true } }],
    });
    const ws = client.workspace('acme-prod');

    // Act
    const first = await ws.startPipelineUpdate('p-1');
    const second = await ws.startPipelineUpdate('p-1');

    // Assess
    expect(first.update_id).not.toBe('');
    const updates = emu.callLog().filter((c) => c.path === '/api/2.0/pipelines/p-1/updates');
    expect(updates.map((c) => c.status)).toEqual([200, 409]);
    expect(updates.every((c) => (c.body as { full_refresh?: unknown }).full_refresh === false)).toBe(true);
    expect(second.update_id).toBe(first.update_id);
  });

  it('sees a silent revert through getWorkspace once the update is over', async () => {
    // Prepare
    const { client } = await setup(
      {},
      { timings: SLOW, faults: [{ kind: 'silentRevert', workspace_id: WS_ID }] },
    );

    // Act
    await client.account.updateWorkspaceKeys(WS_ID, { managed_services_customer_managed_key_id: 'cmk-new' });
    const during = await client.account.getWorkspace(WS_ID);
    const after = await pollUntil(
      () => client.account.getWorkspace(WS_ID),
      (w) => w.workspace_status === 'RUNNING',
    );

    // Assess
    expect(during.workspace_status).toBe('PROVISIONING');
    expect(after.workspace_status).toBe('RUNNING');
    expect(after.managed_services_customer_managed_key_id).toBe('cmk-old');
  });

  it('applies a managed-services key change when nothing interferes', async () => {
    // Prepare
    const { emu, client } = await setup();

    // Act
    await client.account.updateWorkspaceKeys(WS_ID, { managed_services_customer_managed_key_id: 'cmk-new' });
    const after = await pollUntil(
      () => client.account.getWorkspace(WS_ID),
      (w) => w.workspace_status === 'RUNNING',
    );

    // Assess
    expect(after.managed_services_customer_managed_key_id).toBe('cmk-new');
    const patch = emu.callLog().find((c) => c.method === 'PATCH');
    expect(patch?.path).toBe(
      `/api/2.0/accounts/${ACCOUNT}/workspaces/${WS_ID}?update_mask=managed_services_customer_managed_key_id`,
    );
    expect(patch?.body).toEqual({ managed_services_customer_managed_key_id: 'cmk-new' });
  });

  it('retries the 429s of a scenario fault and succeeds', async () => {
    // Prepare
    const { emu, client } = await setup(
      { clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] },
      {
        faults: [
          { method: 'POST', path: '/api/2.1/clusters/delete', status: 429, retryAfterSeconds: 2, times: 3 },
        ],
      },
    );

    // Act
    await client.workspace('acme-prod').terminateCluster('c-1');

    // Assess
    const deletes = emu.callLog().filter((c) => c.path === '/api/2.1/clusters/delete');
    expect(deletes.map((c) => c.status)).toEqual([429, 429, 429, 200]);
    expect(deletes[3]!.t - deletes[0]!.t).toBeGreaterThanOrEqual(6);
  });

  it('keeps up under the emulated rate limit', async () => {
    // Prepare
    const clusters = Array.from({ length: 20 }, (_, i) => ({ cluster_id: `c-${i}`, state: 'RUNNING' }));
    // A slower clock so the burst lands within one simulated second.
    const { emu, client } = await setup({ clusters }, { rateLimits: { workspace: 5 } }, {}, 60);
    const ws = client.workspace('acme-prod');

    // Act
    await Promise.all(clusters.map((c) => ws.terminateCluster(c.cluster_id)));

    // Assess
    const log = emu.callLog().filter((c) => c.path === '/api/2.1/clusters/delete');
    expect(log.filter((c) => c.status === 200)).toHaveLength(20);
    expect(log.some((c) => c.status === 429)).toBe(true);
  });

  it('leaves no secret or token in the emulator call log', async () => {
    // Prepare
    const { emu, client } = await setup();

    // Act
    await client.account.getWorkspace(WS_ID);
    await client.workspace('acme-prod').listClusters();

    // Assess
    const log = JSON.stringify(emu.callLog());
    expect(log).not.toContain(SP.clientSecret);
    expect(log).not.toMatch(/Bearer|Basic /);
  });
});
