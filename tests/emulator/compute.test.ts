import { afterEach, describe, expect, it } from 'vitest';
import { emulatorFor, type Json, scenarioWith, workspace } from './helpers.ts';

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

async function start(resources: Json, databricks: Json = {}) {
  env = await emulatorFor(scenarioWith({ workspaces: [workspace(resources)], ...databricks }));
  return env;
}

describe('clusters', () => {
  it('pages clusters/list with next_page_token and no token on the last page', async () => {
    // Prepare
    const clusters = Array.from({ length: 250 }, (_, i) => ({ cluster_id: `c-${i}`, state: 'TERMINATED' }));
    const { ws } = await start({ clusters });
    // Act
    const seen: string[] = [];
    const tokens: Array<string | undefined> = [];
    let query = '?page_size=100';
    for (;;) {
      const page = await ws('GET', `/api/2.1/clusters/list${query}`);
      seen.push(...(page.body.clusters as Json[]).map((c) => String(c.cluster_id)));
      const next = page.body.next_page_token as string | undefined;
      tokens.push(next);
      if (!next) break;
      query = `?page_size=100&page_token=${encodeURIComponent(next)}`;
    }
    // Assess
    expect(seen).toEqual(clusters.map((c) => c.cluster_id));
    expect(tokens.length).toBe(3);
    expect(tokens.at(-1)).toBeUndefined();
  });

  it('caps page_size at 100 even when asked for more', async () => {
    const { ws } = await start({
      clusters: Array.from({ length: 150 }, (_, i) => ({ cluster_id: `c-${i}` })),
    });

    const page = await ws('GET', '/api/2.1/clusters/list?page_size=500');

    expect((page.body.clusters as Json[]).length).toBe(100);
    expect(page.body.next_page_token).toBeDefined();
  });

  it('filters by repeated filter_by.cluster_states and filter_by.cluster_sources keys', async () => {
    const { ws } = await start({
      clusters: [
        { cluster_id: 'ui-run', state: 'RUNNING', cluster_source: 'UI' },
        { cluster_id: 'job-run', state: 'RUNNING', cluster_source: 'JOB' },
        { cluster_id: 'api-pend', state: 'PENDING', cluster_source: 'API' },
        { cluster_id: 'ui-term', state: 'TERMINATED', cluster_source: 'UI' },
      ],
    });

    const states = await ws(
      'GET',
      '/api/2.1/clusters/list?filter_by.cluster_states=RUNNING&filter_by.cluster_states=PENDING',
    );
    const both = await ws(
      'GET',
      '/api/2.1/clusters/list?filter_by.cluster_states[]=RUNNING&filter_by.cluster_sources=UI&filter_by.cluster_sources=API',
    );
    const bad = await ws('GET', '/api/2.1/clusters/list?filter_by.cluster_states=SLEEPING');

    expect((states.body.clusters as Json[]).map((c) => c.cluster_id)).toEqual([
      'ui-run',
      'job-run',
      'api-pend',
    ]);
    expect((both.body.clusters as Json[]).map((c) => c.cluster_id)).toEqual(['ui-run']);
    expect(bad.status).toBe(400);
  });

  it('terminates a cluster through TERMINATING to TERMINATED with reason USER_REQUEST', async () => {
    const { ws, emu } = await start({ clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] });

    const del = await ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    const during = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    emu.clock.advance(901);
    const after = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    const again = await ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });

    expect(del.status).toBe(200);
    expect(during.body.state).toBe('TERMINATING');
    expect(after.body.state).toBe('TERMINATED');
    expect((after.body.termination_reason as Json).code).toBe('USER_REQUEST');
    expect(again.status).toBe(200);
  });

  it('starts a terminated UI cluster through PENDING to RUNNING', async () => {
    const { ws, emu } = await start({ clusters: [{ cluster_id: 'c-1', state: 'TERMINATED' }] });

    await ws('POST', '/api/2.1/clusters/start', { cluster_id: 'c-1' });
    const during = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    emu.clock.advance(901);
    const after = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');

    expect(during.body.state).toBe('PENDING');
    expect(after.body.state).toBe('RUNNING');
    expect(emu.computeStarts()).toMatchObject([{ kind: 'cluster', id: 'c-1', by: 'api' }]);
  });

  it('lets "a user" start a terminated cluster with the startCluster fault, and records it as a fault start', async () => {
    const { ws, emu } = await start(
      { clusters: [{ cluster_id: 'c-1', state: 'RUNNING' }] },
      { faults: [{ kind: 'startCluster', cluster_id: 'c-1', afterSeconds: 120 }] },
    );

    await ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    emu.clock.advance(901);
    const terminated = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    emu.clock.advance(121);
    const restarted = await ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');

    expect(terminated.body.state).toBe('TERMINATED');
    expect(restarted.body.state).toBe('PENDING');
    expect(emu.computeStarts()).toMatchObject([{ kind: 'cluster', id: 'c-1', by: 'fault' }]);
  });

  it('refuses to start a job cluster and a cluster that is not terminated', async () => {
    const { ws } = await start({
      clusters: [
        { cluster_id: 'job', state: 'TERMINATED', cluster_source: 'JOB' },
        { cluster_id: 'live', state: 'RUNNING', cluster_source: 'UI' },
      ],
    });

    const job = await ws('POST', '/api/2.1/clusters/start', { cluster_id: 'job' });
    const live = await ws('POST', '/api/2.1/clusters/start', { cluster_id: 'live' });

    expect(job.status).toBe(400);
    expect(job.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(String(job.body.message)).toContain('cannot be started');
    expect(live.status).toBe(400);
    expect(live.body.error_code).toBe('INVALID_STATE');
  });

  it('refuses permanent-delete and answers an unknown cluster as Databricks does (400 "does not exist")', async () => {
    const { ws } = await start({ clusters: [{ cluster_id: 'c-1' }] });

    const permanent = await ws('POST', '/api/2.1/clusters/permanent-delete', { cluster_id: 'c-1' });
    const unknown = await ws('GET', '/api/2.1/clusters/get?cluster_id=nope');

    expect(permanent.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Cluster nope does not exist',
    });
  });

  it('accepts the 2.0 clusters API', async () => {
    const { ws } = await start({ clusters: [{ cluster_id: 'c-1' }] });

    const answer = await ws('GET', '/api/2.0/clusters/get?cluster_id=c-1');

    expect(answer.body.state).toBe('RUNNING');
  });
});

describe('instance pools', () => {
  const pool = {
    instance_pool_id: 'p-1',
    instance_pool_name: 'general',
    node_type_id: 'm5.xlarge',
    min_idle_instances: 2,
    idle_instance_autotermination_minutes: 30,
    max_capacity: 20,
    custom_tags: { team: 'data' },
    stats: { idle_count: 2 },
  };

  it('drains idle instances after min_idle and auto-termination are set to 0', async () => {
    const { ws, emu } = await start({ instancePools: [pool] });

    const edit = await ws('POST', '/api/2.0/instance-pools/edit', {
      instance_pool_id: 'p-1',
      instance_pool_name: 'general',
      node_type_id: 'm5.xlarge',
      min_idle_instances: 0,
      idle_instance_autotermination_minutes: 0,
      max_capacity: 20,
      custom_tags: { team: 'data' },
    });
    const during = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');
    emu.clock.advance(901);
    const after = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');

    expect(edit.status).toBe(200);
    expect((during.body.stats as Json).idle_count).toBe(2);
    expect(after.body.stats).toEqual({
      idle_count: 0,
      used_count: 0,
      pending_idle_count: 0,
      pending_used_count: 0,
    });
    expect(after.body.custom_tags).toEqual({ team: 'data' });
  });

  it('counts the instances of a running cluster on the pool as used, then idle after it terminates', async () => {
    const { ws, emu } = await start({
      instancePools: [
        {
          ...pool,
          min_idle_instances: 0,
          idle_instance_autotermination_minutes: 0,
          stats: { idle_count: 0 },
        },
      ],
      clusters: [{ cluster_id: 'c-1', instance_pool_id: 'p-1', num_workers: 2 }],
    });

    const running = await ws('GET', '/api/2.0/instance-pools/list');
    await ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    emu.clock.advance(901);
    const released = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');
    emu.clock.advance(901);
    const drained = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');

    expect((running.body.instance_pools as Json[])[0]?.stats).toMatchObject({ used_count: 3 });
    expect(released.body.stats).toMatchObject({ used_count: 0, idle_count: 3 });
    expect(drained.body.stats).toMatchObject({ used_count: 0, idle_count: 0 });
  });

  it('refills idle instances up to min_idle_instances when restored', async () => {
    const { ws, emu } = await start({
      instancePools: [{ ...pool, min_idle_instances: 0, stats: { idle_count: 0 } }],
    });

    await ws('POST', '/api/2.0/instance-pools/edit', { ...pool, stats: undefined });
    const pending = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');
    emu.clock.advance(901);
    const filled = await ws('GET', '/api/2.0/instance-pools/get?instance_pool_id=p-1');

    expect((pending.body.stats as Json).pending_idle_count).toBe(2);
    expect((filled.body.stats as Json).idle_count).toBe(2);
  });

  it('requires name and node type on edit and refuses a node type change', async () => {
    const { ws } = await start({ instancePools: [pool] });

    const missing = await ws('POST', '/api/2.0/instance-pools/edit', {
      instance_pool_id: 'p-1',
      min_idle_instances: 0,
    });
    const changed = await ws('POST', '/api/2.0/instance-pools/edit', {
      instance_pool_id: 'p-1',
      instance_pool_name: 'general',
      node_type_id: 'r5.large',
    });

    expect(missing.status).toBe(400);
    expect(String(missing.body.message)).toContain('instance_pool_name');
    expect(changed.status).toBe(400);
  });
});

describe('SQL warehouses', () => {
  it('stops a running warehouse through STOPPING and starts it again', async () => {
    const { ws, emu } = await start({
      warehouses: [{ id: 'wh-1', name: 'bi', state: 'RUNNING', num_clusters: 1 }],
    });

    await ws('POST', '/api/2.0/sql/warehouses/wh-1/stop');
    const stopping = await ws('GET', '/api/2.0/sql/warehouses/wh-1');
    emu.clock.advance(901);
    const stopped = await ws('GET', '/api/2.0/sql/warehouses/wh-1');
    const noop = await ws('POST', '/api/2.0/sql/warehouses/wh-1/stop');
    await ws('POST', '/api/2.0/sql/warehouses/wh-1/start');
    const starting = await ws('GET', '/api/2.0/sql/warehouses/wh-1');
    emu.clock.advance(901);
    const running = await ws('GET', '/api/2.0/sql/warehouses/wh-1');

    expect([stopping.body.state, stopped.body.state, starting.body.state, running.body.state]).toEqual([
      'STOPPING',
      'STOPPED',
      'STARTING',
      'RUNNING',
    ]);
    expect(noop.status).toBe(200);
    expect(running.body.num_clusters).toBe(1);
  });

  it('pages the warehouse list', async () => {
    const { ws } = await start({ warehouses: Array.from({ length: 3 }, (_, i) => ({ id: `wh-${i}` })) });

    const first = await ws('GET', '/api/2.0/sql/warehouses?page_size=2');
    const second = await ws(
      'GET',
      `/api/2.0/sql/warehouses?page_size=2&page_token=${first.body.next_page_token}`,
    );

    expect((first.body.warehouses as Json[]).length).toBe(2);
    expect((second.body.warehouses as Json[]).map((w) => w.id)).toEqual(['wh-2']);
    expect(second.body.next_page_token).toBeUndefined();
  });

  it('starts a stopped warehouse by itself with the autoStartWarehouse fault', async () => {
    const { ws, emu } = await start(
      { warehouses: [{ id: 'wh-1', state: 'RUNNING' }] },
      { faults: [{ kind: 'autoStartWarehouse', id: 'wh-1', afterSeconds: 60 }] },
    );

    await ws('POST', '/api/2.0/sql/warehouses/wh-1/stop');
    emu.clock.advance(901 + 61);
    const restarted = await ws('GET', '/api/2.0/sql/warehouses/wh-1');

    expect(restarted.body.state).toBe('STARTING');
    expect(emu.computeStarts()).toMatchObject([{ kind: 'warehouse', id: 'wh-1', by: 'fault' }]);
  });
});

describe('jobs and runs', () => {
  const schedule = { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' };

  it('pages jobs/list with has_more and next_page_token and refuses limit above 100', async () => {
    const { ws } = await start({
      jobs: Array.from({ length: 30 }, (_, i) => ({ job_id: i + 1, settings: { name: `j${i}` } })),
    });

    const first = await ws('GET', '/api/2.2/jobs/list?limit=25');
    const second = await ws('GET', `/api/2.2/jobs/list?limit=25&page_token=${first.body.next_page_token}`);
    const tooMany = await ws('GET', '/api/2.2/jobs/list?limit=101');

    expect((first.body.jobs as Json[]).length).toBe(25);
    expect(first.body.has_more).toBe(true);
    expect((second.body.jobs as Json[]).map((j) => j.job_id)).toEqual([26, 27, 28, 29, 30]);
    expect(second.body.has_more).toBe(false);
    expect(Object.keys((first.body.jobs as Json[])[0] ?? {}).sort()).toEqual([
      'created_time',
      'creator_user_name',
      'job_id',
      'settings',
    ]);
    expect(tooMany.status).toBe(400);
  });

  it('replaces whole top-level settings fields on update and keeps the others', async () => {
    const { ws } = await start({
      jobs: [{ job_id: 11, settings: { name: 'nightly', schedule, max_concurrent_runs: 1 } }],
    });

    const update = await ws('POST', '/api/2.2/jobs/update', {
      job_id: 11,
      new_settings: {
        schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'PAUSED' },
      },
    });
    const job = await ws('GET', '/api/2.2/jobs/get?job_id=11');

    expect(update.status).toBe(200);
    expect(job.body.settings).toEqual({
      name: 'nightly',
      max_concurrent_runs: 1,
      schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'PAUSED' },
    });
  });

  it('refuses a partial schedule, a bad pause_status and schedule together with continuous', async () => {
    const { ws } = await start({ jobs: [{ job_id: 11, settings: { schedule } }] });

    const partial = await ws('POST', '/api/2.2/jobs/update', {
      job_id: 11,
      new_settings: { schedule: { pause_status: 'PAUSED' } },
    });
    const badPause = await ws('POST', '/api/2.2/jobs/update', {
      job_id: 11,
      new_settings: { schedule: { ...schedule, pause_status: 'SLEEPING' } },
    });
    const both = await ws('POST', '/api/2.2/jobs/update', {
      job_id: 11,
      new_settings: { continuous: { pause_status: 'PAUSED' } },
    });

    expect([partial.status, badPause.status, both.status]).toEqual([400, 400, 400]);
  });

  it('ends an active run by itself after remainingSeconds', async () => {
    const { ws, emu } = await start({
      jobs: [{ job_id: 11, settings: { schedule } }],
      runs: [{ run_id: 901, job_id: 11, state: { life_cycle_state: 'RUNNING' }, remainingSeconds: 600 }],
    });

    const active = await ws('GET', '/api/2.2/jobs/runs/list?active_only=true');
    emu.clock.advance(601);
    const done = await ws('GET', '/api/2.2/jobs/runs/get?run_id=901');
    const activeAfter = await ws('GET', '/api/2.2/jobs/runs/list?active_only=true');

    expect((active.body.runs as Json[]).map((r) => r.run_id)).toEqual([901]);
    expect((active.body.runs as Json[])[0]).not.toHaveProperty('remainingSeconds');
    expect(done.body.state).toMatchObject({ life_cycle_state: 'TERMINATED', result_state: 'SUCCESS' });
    expect(activeAfter.body.runs).toBeUndefined();
  });

  it('cancels a run through TERMINATING to CANCELED and terminates its job cluster', async () => {
    const { ws, emu } = await start({
      clusters: [{ cluster_id: 'job-c', cluster_source: 'JOB' }],
      jobs: [{ job_id: 11 }],
      runs: [{ run_id: 901, job_id: 11, cluster_instance: { cluster_id: 'job-c' } }],
    });

    await ws('POST', '/api/2.2/jobs/runs/cancel', { run_id: 901 });
    const during = await ws('GET', '/api/2.2/jobs/runs/get?run_id=901');
    emu.clock.advance(901);
    const after = await ws('GET', '/api/2.2/jobs/runs/get?run_id=901');
    const cluster = await ws('GET', '/api/2.1/clusters/get?cluster_id=job-c');

    expect((during.body.state as Json).life_cycle_state).toBe('TERMINATING');
    expect(after.body.state).toMatchObject({ life_cycle_state: 'TERMINATED', result_state: 'CANCELED' });
    expect(cluster.body.state).toBe('TERMINATING');
  });

  it('starts a new run of an unpaused continuous job when its run is cancelled', async () => {
    const { ws, emu } = await start({
      jobs: [{ job_id: 14, settings: { continuous: { pause_status: 'UNPAUSED' } } }],
      runs: [{ run_id: 901, job_id: 14 }],
    });

    await ws('POST', '/api/2.2/jobs/runs/cancel', { run_id: 901 });
    emu.clock.advance(901);
    const active = await ws('GET', '/api/2.2/jobs/runs/list?active_only=true&job_id=14');

    expect((active.body.runs as Json[]).map((r) => r.trigger)).toEqual(['CONTINUOUS']);
  });

  it('refuses runs/list limits above 24', async () => {
    const { ws } = await start({});

    const answer = await ws('GET', '/api/2.2/jobs/runs/list?limit=25');

    expect(answer.status).toBe(400);
  });
});

describe('pipelines', () => {
  const pipeline = { pipeline_id: 'pl-1', name: 'ingest', state: 'RUNNING', spec: { continuous: true } };

  it('lists pipelines without their spec and gets one with it', async () => {
    const { ws } = await start({ pipelines: [pipeline] });

    const list = await ws('GET', '/api/2.0/pipelines');
    const one = await ws('GET', '/api/2.0/pipelines/pl-1');

    expect((list.body.statuses as Json[])[0]).toEqual({
      pipeline_id: 'pl-1',
      name: 'ingest',
      state: 'RUNNING',
    });
    expect(one.body.spec).toEqual({ continuous: true });
  });

  it('stops a pipeline to IDLE and starts an update to RUNNING, refusing a second update with 409', async () => {
    const { ws, emu } = await start({ pipelines: [pipeline] });

    await ws('POST', '/api/2.0/pipelines/pl-1/stop');
    const stopping = await ws('GET', '/api/2.0/pipelines/pl-1');
    emu.clock.advance(901);
    const idle = await ws('GET', '/api/2.0/pipelines/pl-1');
    const update = await ws('POST', '/api/2.0/pipelines/pl-1/updates', { full_refresh: false });
    const second = await ws('POST', '/api/2.0/pipelines/pl-1/updates', {});
    emu.clock.advance(901);
    const running = await ws('GET', '/api/2.0/pipelines/pl-1');

    expect([stopping.body.state, idle.body.state, running.body.state]).toEqual([
      'STOPPING',
      'IDLE',
      'RUNNING',
    ]);
    expect(typeof update.body.update_id).toBe('string');
    expect(second.status).toBe(409);
    expect(second.body.error_code).toBe('RESOURCE_CONFLICT');
    expect(emu.callLog().find((e) => e.path === '/api/2.0/pipelines/pl-1/updates')?.body).toEqual({
      full_refresh: false,
    });
  });

  it('refuses max_results above 100', async () => {
    const { ws } = await start({ pipelines: [pipeline] });

    const answer = await ws('GET', '/api/2.0/pipelines?max_results=101');

    expect(answer.status).toBe(400);
  });
});
