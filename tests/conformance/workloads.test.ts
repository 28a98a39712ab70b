import type { WorkspaceClient } from '@databricks/sdk-experimental';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_CONFIGS, workspaceWithEverything } from './fixtures.ts';
import { all, answerMisfits, scenarioWith, sdkAgainstEmulator } from './harness.ts';

/**
 * SQL warehouses, jobs and runs, and pipelines through the official SDK's clients and waiters, with the compute
 * they own: stopping a warehouse stops its SQL cluster, terminating a job cluster fails its run, stopping a
 * pipeline stops its cluster. Every answer is held against the SDK's models at the end.
 */
let env: Awaited<ReturnType<typeof sdkAgainstEmulator>>;
let w: WorkspaceClient;
const PIPELINE = 'b7c8d9e0-0000-4000-8000-000000000001';

beforeAll(async () => {
  env = await sdkAgainstEmulator(
    scenarioWith({ keyConfigs: KEY_CONFIGS, workspaces: [workspaceWithEverything()] }),
  );
  w = env.workspace();
});

afterAll(async () => {
  await env?.emu.close();
});

describe('SQL Warehouses API through the SDK', () => {
  it('lists and gets warehouses, each with the health the SDK waiters read', async () => {
    const listed = await all(w.warehouses.list({ page_size: 1 }));
    const one = await w.warehouses.get({ id: 'wh00000000000001' });

    expect(listed.map((h) => h.id)).toEqual(['wh00000000000001', 'wh00000000000002']);
    expect(listed.every((h) => typeof h.health === 'object')).toBe(true);
    expect(one).toMatchObject({ id: 'wh00000000000001', state: 'RUNNING', health: { status: 'HEALTHY' } });
  });

  it('stops a warehouse with the stop waiter, and its SQL cluster terminates with it', async () => {
    const stopped = await (await w.warehouses.stop({ id: 'wh00000000000001' })).wait();
    const sqlCluster = await w.clusters.get({ cluster_id: '0101-000000-sql001' });

    expect(stopped.state).toBe('STOPPED');
    expect(['TERMINATING', 'TERMINATED']).toContain(sqlCluster.state);
  });

  it('starts it again with the start waiter', async () => {
    const started = await (await w.warehouses.start({ id: 'wh00000000000001' })).wait();

    expect(started.state).toBe('RUNNING');
  });
});

describe('Jobs API through the SDK', () => {
  it('lists jobs (paginated), gets one and pauses its schedule with update', async () => {
    const jobs = await all(w.jobs.list({ limit: 2 }));
    const job = await w.jobs.get({ job_id: 101 });
    const schedule = job.settings?.schedule;
    if (!schedule) throw new Error('job 101 has a schedule in the fixture');
    await w.jobs.update({ job_id: 101, new_settings: { schedule: { ...schedule, pause_status: 'PAUSED' } } });
    const paused = await w.jobs.get({ job_id: 101 });

    expect(jobs.map((j) => j.job_id)).toEqual([101, 102, 103]);
    expect(paused.settings?.schedule?.pause_status).toBe('PAUSED');
  });

  it('lists active runs and cancels one with the cancel waiter', async () => {
    const active = await all(w.jobs.listRuns({ active_only: true }));
    const canceled = await (await w.jobs.cancelRun({ run_id: 502 })).wait();

    expect(active.map((r) => r.run_id).sort()).toEqual([501, 502]);
    expect(canceled.state).toMatchObject({ life_cycle_state: 'TERMINATED', result_state: 'CANCELED' });
  });

  it('fails the run whose job cluster is terminated under it', async () => {
    await (await w.clusters.delete({ cluster_id: '0101-000000-job001' })).wait();
    const run = await w.jobs.getRun({ run_id: 501 });

    expect(run.state).toMatchObject({ life_cycle_state: 'INTERNAL_ERROR', result_state: 'FAILED' });
    expect(run.state?.state_message).toContain('0101-000000-job001');
  });
});

describe('Pipelines API through the SDK', () => {
  it('lists pipelines without spec and gets one with spec', async () => {
    const listed = await all(w.pipelines.listPipelines({ max_results: 1 }));
    const one = await w.pipelines.get({ pipeline_id: PIPELINE });

    expect(listed.map((p) => p.pipeline_id)).toHaveLength(2);
    expect(listed.every((p) => !('spec' in p))).toBe(true);
    expect(one.spec?.continuous).toBe(true);
  });

  it('stops a pipeline with the stop waiter, and its cluster terminates with it', async () => {
    const stopped = await (await w.pipelines.stop({ pipeline_id: PIPELINE })).wait();
    const cluster = await w.clusters.get({ cluster_id: '0101-000000-dlt001' });

    expect(stopped.state).toBe('IDLE');
    expect(['TERMINATING', 'TERMINATED']).toContain(cluster.state);
  });

  it('starts an update (never a full refresh) and lists and gets it with a numeric creation_time', async () => {
    const started = await w.pipelines.startUpdate({ pipeline_id: PIPELINE, full_refresh: false });
    const updates = await w.pipelines.listUpdates({ pipeline_id: PIPELINE });
    const update = await w.pipelines.getUpdate({ pipeline_id: PIPELINE, update_id: started.update_id ?? '' });

    expect(updates.updates?.[0]).toMatchObject({ update_id: started.update_id, full_refresh: false });
    expect(typeof updates.updates?.[0]?.creation_time).toBe('number');
    expect(update.update?.update_id).toBe(started.update_id);
  });
});

describe('Every answer the SDK received', () => {
  it('fits the SDK model of its endpoint: no undeclared field, no value outside an enum, no null', () => {
    const problems = env.seen.flatMap((a) =>
      answerMisfits(a.method, a.path, a.body).map((m) => `${a.method} ${a.path} ${m.path} ${m.problem}`),
    );

    expect(env.seen.length).toBeGreaterThan(15);
    expect(problems).toEqual([]);
  });
});
