import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidScenario, loadScenario, parseScenario } from '../../local/scenario.ts';
import { emulatorFor, type Json, scenarioWith, WS_ID, workspace } from './helpers.ts';

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

function errorOf(json: unknown): InvalidScenario {
  try {
    parseScenario(json);
  } catch (error) {
    if (error instanceof InvalidScenario) return error;
    throw error;
  }
  throw new Error('expected InvalidScenario');
}

describe('parseScenario', () => {
  it('fills a complete default scenario from an empty one', () => {
    // Act
    const scenario = parseScenario({});
    // Assess
    expect(scenario.databricks.workspaces).toMatchObject([
      {
        workspace_id: 1234567890123456,
        workspace_name: 'prod',
        deployment_name: 'acme-prod',
        aws_region: 'us-east-1',
        workspace_status: 'RUNNING',
        network: 'databricks-managed',
      },
    ]);
    expect(scenario.aws.keys).toMatchObject([
      { keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', state: 'Enabled' },
    ]);
    expect(scenario.aws.keys[0]?.policy).toMatchObject({
      Statement: [{ Sid: 'Enable IAM User Permissions' }],
    });
    const sp = scenario.databricks.servicePrincipal;
    expect(scenario.aws.secrets['databricks/cmk-rotator']).toEqual({
      client_id: sp.clientId,
      client_secret: sp.clientSecret,
    });
    expect(scenario.databricks.timings.clusterTerminate).toEqual([30, 120]);
    expect(scenario.databricks.rateLimits).toEqual({ workspace: null, account: null, token: null });
  });

  it('names the bad field of a resource', () => {
    const error = errorOf({
      databricks: { workspaces: [{ workspace_id: 1, clusters: [{}, {}, { state: 'SLEEPING' }] }] },
    });

    expect(error.name).toBe('InvalidScenario');
    expect(error.message).toContain('scenario field databricks.workspaces[0].clusters[2].state');
  });

  it('refuses a field a Databricks resource does not have, suggesting the nearest one', () => {
    const error = errorOf({
      databricks: { workspaces: [{ workspace_id: 1, clusters: [{}, {}, { stat: 'RUNNING' }] }] },
    });

    expect(error.name).toBe('InvalidScenario');
    expect(error.message).toContain('scenario field databricks.workspaces[0].clusters[2].stat');
    expect(error.message).toContain('did you mean `state`?');
    expect(error.details.field).toBe('databricks.workspaces[0].clusters[2].stat');
  });

  it('names unknown top-level fields', () => {
    const error = errorOf({ databrick: {}, name: 'x' });

    expect(error.message).toContain('unknown field(s): databrick');
  });

  it('refuses timings whose min exceeds max', () => {
    const error = errorOf({ databricks: { timings: { clusterStart: [400, 100] } } });

    expect(error.message).toContain('databricks.timings.clusterStart');
  });

  it('refuses faults it cannot honour: unknown kind, unknown ids, unknown fields', () => {
    const kind = errorOf({ databricks: { faults: [{ kind: 'meteorStrike' }] } });
    const cluster = errorOf({
      databricks: { faults: [{ kind: 'startCluster', cluster_id: 'nope', afterSeconds: 1 }] },
    });
    const warehouse = errorOf({
      databricks: { faults: [{ kind: 'autoStartWarehouse', id: 'nope', afterSeconds: 1 }] },
    });
    const revert = errorOf({ databricks: { faults: [{ kind: 'silentRevert', workspace_id: 7 }] } });
    const typo = errorOf({
      databricks: { faults: [{ path: '/api/2.1/clusters/list', status: 429, retryAfter: 2 }] },
    });

    expect(kind.message).toContain('databricks.faults[0].kind');
    expect(cluster.message).toContain('databricks.faults[0].cluster_id');
    expect(warehouse.message).toContain('databricks.faults[0].id');
    expect(revert.message).toContain('databricks.faults[0].workspace_id');
    expect(typo.message).toContain('retryAfter');
  });

  it('refuses references to pools and key configurations that do not exist', () => {
    const pool = errorOf({
      databricks: { workspaces: [{ workspace_id: 1, clusters: [{ instance_pool_id: 'p-x' }] }] },
    });
    const key = errorOf({
      databricks: { workspaces: [{ workspace_id: 1, managed_services_customer_managed_key_id: 'k-x' }] },
    });

    expect(pool.message).toContain('databricks.workspaces[0].clusters[0].instance_pool_id');
    expect(key.message).toContain('databricks.workspaces[0].managed_services_customer_managed_key_id');
  });

  it('names the file of a scenario loaded from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify({ timeScale: -1 }));

    await expect(loadScenario(file)).rejects.toThrow(/timeScale.*broken\.json/);
  });

  it('takes the scenario name from the file name when none is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
    const file = join(dir, 'tiny.json');
    writeFileSync(file, '{}');

    const scenario = await loadScenario(file);

    expect(scenario.name).toBe('tiny');
  });
});

describe('fidelity of scenario data', () => {
  it('returns API fields the emulator does not read exactly as given', async () => {
    // Prepare
    const cluster = {
      cluster_id: '0101-000000-abc123',
      state: 'RUNNING',
      cluster_source: 'UI',
      spark_version: '15.4.x-scala2.12',
      aws_attributes: { availability: 'SPOT_WITH_FALLBACK', zone_id: 'auto' },
      default_tags: { Vendor: 'Databricks' },
    };
    env = await emulatorFor(
      scenarioWith({
        workspaces: [
          workspace({ clusters: [cluster], pricing_tier: 'PREMIUM', storage_configuration_id: 'sc-1' }),
        ],
      }),
    );
    // Act
    const got = await env.ws('GET', `/api/2.1/clusters/get?cluster_id=${cluster.cluster_id}`);
    const ws = await env.account('GET', `/workspaces/${WS_ID}`);
    // Assess
    expect(got.body).toMatchObject(cluster);
    expect(got.body.aws_attributes).toEqual(cluster.aws_attributes);
    expect(ws.body).toMatchObject({ pricing_tier: 'PREMIUM', storage_configuration_id: 'sc-1' });
  });

  it('shows current values in state() in the scenario shape', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })] }));

    await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    env.emu.clock.advance(901);
    const state = env.emu.state();

    const ws = state.workspaces[0] as Json;
    expect(ws).toMatchObject({ workspace_id: WS_ID, network: 'databricks-managed' });
    expect((ws.clusters as Json[])[0]).toMatchObject({ cluster_id: 'c-1', state: 'TERMINATED' });
    expect(Object.keys(ws)).toEqual(
      expect.arrayContaining(['instancePools', 'warehouses', 'jobs', 'runs', 'pipelines']),
    );
  });

  it('draws the same platform timings for the same seed and different ones for another seed', async () => {
    const resources = {
      clusters: [{ cluster_id: 'c-1' }],
      warehouses: [{ id: 'wh-1' }],
      instancePools: [{ instance_pool_id: 'p-1', min_idle_instances: 1 }],
    };
    const make = (seed: number) =>
      parseScenario({ databricks: { seed, workspaces: [workspace(resources)] } });
    const a = await emulatorFor(make(7));
    const b = await emulatorFor(make(7));
    const c = await emulatorFor(make(8));

    const timings = [a, b, c].map((e) => e.emu.platformTimings(WS_ID));
    await Promise.all([a, b, c].map((e) => e.emu.close()));

    expect(timings[0]).toEqual(timings[1]);
    expect(timings[0]).not.toEqual(timings[2]);
    expect(timings[0]?.slowestStopSeconds).toBeGreaterThanOrEqual(30);
    expect(timings[0]?.workspaceUpdateSeconds).toBeGreaterThanOrEqual(300);
  });

  it('terminates a cluster after exactly the drawn time reported by platformTimings', async () => {
    env = await emulatorFor(
      parseScenario({
        databricks: {
          timings: { apiLatencyMs: [0, 0] },
          workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })],
        },
      }),
    );
    const { slowestStopSeconds } = env.emu.platformTimings(WS_ID);

    await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    const t = env.emu.callLog().at(-1)?.t ?? 0;
    env.emu.clock.advance(Math.max(0, t + slowestStopSeconds + 1 - env.emu.clock.seconds()));
    const after = await env.ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');

    expect(after.body.state).toBe('TERMINATED');
  });
});
