import type { WorkspaceClient } from '@databricks/sdk-experimental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_CONFIGS, workspaceWithEverything } from './fixtures.ts';
import { all, answerMisfits, scenarioWith, sdkAgainstEmulator } from './harness.ts';

/**
 * Clusters and instance pools through the official SDK's own clients, paginators and waiters. Every answer the
 * SDK received is held against the SDK's generated models at the end (`answerMisfits`).
 */
let env: Awaited<ReturnType<typeof sdkAgainstEmulator>>;
let w: WorkspaceClient;

beforeAll(async () => {
  env = await sdkAgainstEmulator(
    scenarioWith({ keyConfigs: KEY_CONFIGS, workspaces: [workspaceWithEverything()] }),
  );
  w = env.workspace();
});

afterAll(async () => {
  await env?.emu.close();
});

describe('Clusters API through the SDK', () => {
  it('pages clusters/list with page_size and next_page_token until the last page', async () => {
    const clusters = await all(w.clusters.list({ page_size: 2 }));

    expect(clusters.map((c) => c.cluster_id)).toHaveLength(7);
    expect(new Set(clusters.map((c) => c.cluster_id)).size).toBe(7);
    const pages = env.seen.filter((a) => a.path === '/api/2.1/clusters/list');
    expect(pages).toHaveLength(4);
    expect(clusters.every((c) => !('spec' in c))).toBe(true);
  });

  it('filters clusters/list by state and source, encoded the SDK way (filter_by.cluster_states=…)', async () => {
    const running = await all(
      w.clusters.list({ filter_by: { cluster_states: ['RUNNING'], cluster_sources: ['UI', 'API'] } }),
    );

    expect(running.map((c) => c.cluster_id).sort()).toEqual(['0101-000000-api001', '0101-000000-ui0001']);
  });

  it('terminates a cluster and waits until TERMINATED with the SDK waiter', async () => {
    const waiter = await w.clusters.delete({ cluster_id: '0101-000000-ui0001' });
    const done = await waiter.wait({ timeout: undefined });

    expect(done.state).toBe('TERMINATED');
    expect(done.termination_reason?.code).toBe('USER_REQUEST');
  });

  it('starts a terminated cluster and waits until RUNNING with the SDK waiter', async () => {
    const waiter = await w.clusters.start({ cluster_id: '0101-000000-ui0002' });
    const done = await waiter.wait();

    expect(done.state).toBe('RUNNING');
    expect(done.termination_reason).toBeUndefined();
  });

  it('gets a cluster as ClusterDetails', async () => {
    const c = await w.clusters.get({ cluster_id: '0101-000000-api001' });

    expect(c).toMatchObject({ cluster_id: '0101-000000-api001', cluster_source: 'API', state: 'RUNNING' });
  });
});

describe('Instance Pools API through the SDK', () => {
  it('lists, gets and edits a pool, the edit replacing the idle settings', async () => {
    const pools = await all(w.instancePools.list());
    const pool = await w.instancePools.get({ instance_pool_id: 'pool-0001' });
    await w.instancePools.edit({
      instance_pool_id: 'pool-0001',
      instance_pool_name: pool.instance_pool_name ?? '',
      node_type_id: pool.node_type_id ?? '',
      max_capacity: pool.max_capacity,
      custom_tags: pool.custom_tags,
      min_idle_instances: 0,
      idle_instance_autotermination_minutes: 0,
    });
    const edited = await w.instancePools.get({ instance_pool_id: 'pool-0001' });

    expect(pools.map((p) => p.instance_pool_id)).toEqual(['pool-0001']);
    // The autoscaling cluster on the pool holds min_workers + 1 instances.
    expect(pool.stats).toMatchObject({ used_count: 2 });
    expect(edited).toMatchObject({ min_idle_instances: 0, idle_instance_autotermination_minutes: 0 });
  });
});

describe('Every answer the SDK received', () => {
  it('fits the SDK model of its endpoint: no undeclared field, no value outside an enum, no null', () => {
    const problems = env.seen.flatMap((a) =>
      answerMisfits(a.method, a.path, a.body).map((m) => `${a.method} ${a.path} ${m.path} ${m.problem}`),
    );

    expect(env.seen.length).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });
});
