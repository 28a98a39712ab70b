import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator } from '../../local/emulator/index.ts';
import { DEPLOYMENT, emulatorFor, type Json, scenarioWith, WS_ID, workspace } from './helpers.ts';

/**
 * Behaviours that make the emulator answer as Databricks does (each with its source in the model's comments):
 * compute owned by a warehouse, a job run or a pipeline; the updates API of pipelines; the workspace PATCH
 * that names nothing; and a host of its own per workspace. SLOW_TIMINGS: every transition takes 900 s.
 */
type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

async function start(resources: Json, databricks: Json = {}): Promise<Emu> {
  env = await emulatorFor(scenarioWith({ workspaces: [workspace(resources)], ...databricks }));
  return env;
}

const state = async (e: Emu, clusterId: string) =>
  (await e.ws('GET', `/api/2.1/clusters/get?cluster_id=${clusterId}`)).body.state;

describe('compute a warehouse owns', () => {
  const resources = {
    warehouses: [{ id: 'wh-1', state: 'RUNNING', warehouse_type: 'CLASSIC' }],
    clusters: [
      {
        cluster_id: 'sql-1',
        cluster_source: 'SQL',
        state: 'RUNNING',
        default_tags: { SqlWarehouseId: 'wh-1' },
      },
      { cluster_id: 'sql-other', cluster_source: 'SQL', state: 'RUNNING' },
    ],
  };

  it('terminates the SQL clusters tagged with the warehouse when it stops, and launches them when it starts', async () => {
    const e = await start(resources);

    await e.ws('POST', '/api/2.0/sql/warehouses/wh-1/stop');
    const whileStopping = [await state(e, 'sql-1'), await state(e, 'sql-other')];
    e.emu.clock.advance(901);
    await e.ws('POST', '/api/2.0/sql/warehouses/wh-1/start');
    const afterStart = await state(e, 'sql-1');

    expect(whileStopping).toEqual(['TERMINATING', 'RUNNING']);
    expect(afterStart).toBe('PENDING');
  });

  it('answers every warehouse with a health object', async () => {
    const e = await start(resources);

    const listed = await e.ws('GET', '/api/2.0/sql/warehouses');

    expect((listed.body.warehouses as Json[]).map((h) => h.health)).toEqual([{ status: 'HEALTHY' }]);
  });
});

describe('compute a job run owns', () => {
  const resources = (continuous: boolean) => ({
    clusters: [{ cluster_id: 'job-c', cluster_source: 'JOB', state: 'RUNNING' }],
    jobs: [{ job_id: 7, settings: continuous ? { continuous: { pause_status: 'UNPAUSED' } } : {} }],
    runs: [
      {
        run_id: 70,
        job_id: 7,
        state: { life_cycle_state: 'RUNNING' },
        cluster_instance: { cluster_id: 'job-c' },
        remainingSeconds: 3000,
      },
    ],
  });

  it('fails the run whose job cluster is terminated under it, once the cluster is gone', async () => {
    const e = await start(resources(false));

    await e.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'job-c' });
    const whileTerminating = (await e.ws('GET', '/api/2.2/jobs/runs/get?run_id=70')).body.state;
    e.emu.clock.advance(901);
    const after = (await e.ws('GET', '/api/2.2/jobs/runs/get?run_id=70')).body.state;

    expect(whileTerminating).toMatchObject({ life_cycle_state: 'RUNNING' });
    expect(after).toEqual({
      life_cycle_state: 'INTERNAL_ERROR',
      result_state: 'FAILED',
      state_message: 'Cluster job-c was terminated during the run. Reason: USER_REQUEST (SUCCESS).',
      user_cancelled_or_timedout: false,
    });
  });

  it('starts the next run of a continuous job after its run failed that way', async () => {
    const e = await start(resources(true));

    await e.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'job-c' });
    e.emu.clock.advance(901);
    const active = await e.ws('GET', '/api/2.2/jobs/runs/list?active_only=true');

    expect((active.body.runs as Json[]).map((r) => [r.job_id, r.trigger])).toEqual([[7, 'CONTINUOUS']]);
  });

  it('leaves a run that ended by itself SUCCESS (its cluster ends as JOB_FINISHED)', async () => {
    const e = await start(resources(false));

    e.emu.clock.advance(3000 + 901);
    const run = (await e.ws('GET', '/api/2.2/jobs/runs/get?run_id=70')).body.state;
    const cluster = await e.ws('GET', '/api/2.1/clusters/get?cluster_id=job-c');

    expect(run).toMatchObject({ life_cycle_state: 'TERMINATED', result_state: 'SUCCESS' });
    expect(cluster.body).toMatchObject({ state: 'TERMINATED', termination_reason: { code: 'JOB_FINISHED' } });
  });
});

describe('pipeline updates', () => {
  it('lists and gets the updates it started as UpdateInfo (creation_time in epoch ms), 404 for an unknown one', async () => {
    const e = await start({ pipelines: [{ pipeline_id: 'p-1', state: 'IDLE' }] });

    const started = await e.ws('POST', '/api/2.0/pipelines/p-1/updates', { full_refresh: false });
    const updates = await e.ws('GET', '/api/2.0/pipelines/p-1/updates');
    const one = await e.ws('GET', `/api/2.0/pipelines/p-1/updates/${String(started.body.update_id)}`);
    const unknown = await e.ws('GET', '/api/2.0/pipelines/p-1/updates/nope');
    const pipeline = await e.ws('GET', '/api/2.0/pipelines/p-1');

    expect(updates.body.updates).toEqual([
      {
        update_id: started.body.update_id,
        pipeline_id: 'p-1',
        state: 'WAITING_FOR_RESOURCES',
        creation_time: expect.any(Number),
        cause: 'API_CALL',
        full_refresh: false,
      },
    ]);
    expect(one.body).toEqual({ update: (updates.body.updates as Json[])[0] });
    expect(unknown.status).toBe(404);
    expect(typeof (pipeline.body.latest_updates as Json[])[0]?.creation_time).toBe('string');
  });
});

describe('workspace PATCH that names nothing to update', () => {
  it('refuses a body without any updatable field, and accepts an empty custom_tags as a no-op', async () => {
    const e = await start({});

    const nothing = await e.account('PATCH', `/workspaces/${WS_ID}`, { workspace_name: 'renamed' });
    const emptyTags = await e.account('PATCH', `/workspaces/${WS_ID}`, { custom_tags: {} });

    expect(nothing.status).toBe(400);
    expect(nothing.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(emptyTags.status).toBe(200);
    expect(emptyTags.body.workspace_status).toBe('RUNNING');
  });
});

describe('a host of its own per workspace', () => {
  it('serves the workspace API and its OIDC endpoints on that host, with its own token endpoint', async () => {
    const scenario = scenarioWith({ workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })] });
    const emu = await startEmulator(scenario, { timeScale: 600, workspaceHosts: true });
    try {
      const host = emu.workspaceHosts[DEPLOYMENT] ?? '';
      const sp = scenario.databricks.servicePrincipal;

      const discovery = (await (
        await fetch(`${host}/oidc/.well-known/oauth-authorization-server`)
      ).json()) as Json;
      const token = (await (
        await fetch(String(discovery.token_endpoint), {
          method: 'POST',
          headers: {
            Authorization: `Basic ${Buffer.from(`${sp.clientId}:${sp.clientSecret}`).toString('base64')}`,
            'Content-Type': 'application/x-www-form-urlencoded',
          },
          body: 'grant_type=client_credentials&scope=all-apis',
        })
      ).json()) as Json;
      const cluster = await fetch(`${host}/api/2.1/clusters/get?cluster_id=c-1`, {
        headers: { Authorization: `Bearer ${String(token.access_token)}` },
      });
      const onAccountHost = await fetch(
        `${emu.url}/api/2.0/accounts/${scenario.databricks.accountId}/workspaces`,
        {
          headers: { Authorization: `Bearer ${String(token.access_token)}` },
        },
      );

      expect(discovery.token_endpoint).toBe(`${host}/oidc/v1/token`);
      expect(cluster.status).toBe(200);
      expect(emu.callLog().at(-2)).toMatchObject({
        path: '/api/2.1/clusters/get?cluster_id=c-1',
        host: DEPLOYMENT,
      });
      // A workspace token is not an account token, whichever host of the workspace issued it.
      expect(onAccountHost.status).toBe(401);
    } finally {
      await emu.close();
    }
  });
});
