import { afterEach, describe, expect, it } from 'vitest';
import { handler as checkComputeRestored } from '../../functions/check-compute-restored.ts';
import { handler as checkComputeStopped } from '../../functions/check-compute-stopped.ts';
import { handler as restoreCompute } from '../../functions/restore-compute.ts';
import { handler as stopCompute } from '../../functions/stop-compute.ts';
import {
  ActiveRunsPresent,
  ComputeDidNotStop,
  type ComputeSnapshot,
  DrainTimeout,
  MemorySnapshotStore,
  type RestoreResult,
  snapshotKeyOf,
  snapshotStoreFor,
} from '../../lib/compute/index.ts';
import { loadSettings } from '../../lib/settings.ts';
import {
  checkRestored,
  checkStopped,
  type Harness,
  ids,
  invoke,
  itemFor,
  type Json,
  list,
  pathOf,
  restore,
  restoreUntilRestored,
  START_CALL,
  STOP_CALL,
  startWorkspace,
  stop,
  stopUntilStopped,
  writes,
} from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Every resource kind in every state that matters for quiesce and restore. */
const EVERYTHING = {
  clusters: [
    { cluster_id: 'ui-running', cluster_source: 'UI', state: 'RUNNING', num_workers: 2 },
    { cluster_id: 'api-pending', cluster_source: 'API', state: 'PENDING', num_workers: 1 },
    { cluster_id: 'ui-resizing', cluster_source: 'UI', state: 'RESIZING', num_workers: 3 },
    { cluster_id: 'ui-terminated', cluster_source: 'UI', state: 'TERMINATED' },
    {
      cluster_id: 'pooled-api',
      cluster_source: 'API',
      state: 'RUNNING',
      num_workers: 2,
      instance_pool_id: 'pool-warm',
    },
    { cluster_id: 'job-cluster', cluster_source: 'JOB', state: 'RUNNING', num_workers: 2 },
    { cluster_id: 'dlt-cluster', cluster_source: 'PIPELINE', state: 'RUNNING', num_workers: 1 },
    { cluster_id: 'sql-cluster', cluster_source: 'SQL', state: 'RUNNING', num_workers: 1 },
  ],
  instancePools: [
    {
      instance_pool_id: 'pool-warm',
      instance_pool_name: 'warm',
      node_type_id: 'i3.xlarge',
      min_idle_instances: 2,
      idle_instance_autotermination_minutes: 30,
      max_capacity: 20,
      custom_tags: { team: 'ml' },
    },
    {
      instance_pool_id: 'pool-cold',
      instance_pool_name: 'cold',
      node_type_id: 'm5.xlarge',
      min_idle_instances: 0,
    },
  ],
  warehouses: [
    { id: 'wh-running', state: 'RUNNING', warehouse_type: 'PRO' },
    { id: 'wh-starting', state: 'STARTING', warehouse_type: 'CLASSIC' },
    { id: 'wh-stopped', state: 'STOPPED', warehouse_type: 'PRO' },
    { id: 'wh-serverless', state: 'RUNNING', warehouse_type: 'PRO', enable_serverless_compute: true },
  ],
  jobs: [
    {
      job_id: 11,
      settings: {
        name: 'nightly',
        schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
      },
    },
    {
      job_id: 12,
      settings: {
        name: 'paused',
        schedule: { quartz_cron_expression: '0 0 3 * * ?', timezone_id: 'UTC', pause_status: 'PAUSED' },
      },
    },
    { job_id: 13, settings: { name: 'stream', continuous: { pause_status: 'UNPAUSED' } } },
    {
      job_id: 14,
      settings: {
        name: 'files',
        trigger: { pause_status: 'UNPAUSED', file_arrival: { url: 's3://landing/' } },
      },
    },
    {
      job_id: 15,
      settings: { name: 'implicit', schedule: { quartz_cron_expression: '0 0 4 * * ?', timezone_id: 'UTC' } },
    },
    { job_id: 16, settings: { name: 'manual' } },
  ],
  runs: [
    { run_id: 901, job_id: 11, trigger: 'PERIODIC', cluster_instance: { cluster_id: 'job-cluster' } },
    { run_id: 902, job_id: 13, trigger: 'CONTINUOUS' },
  ],
  pipelines: [
    { pipeline_id: 'p-continuous', state: 'RUNNING', spec: { continuous: true }, cluster_id: 'dlt-cluster' },
    { pipeline_id: 'p-triggered', state: 'RUNNING', spec: { continuous: false } },
    { pipeline_id: 'p-idle', state: 'IDLE', spec: { continuous: true } },
    { pipeline_id: 'p-serverless', state: 'RUNNING', spec: { continuous: true, serverless: true } },
  ],
};

const byId = (items: Json[], field: string) => new Map(items.map((x) => [String(x[field]), x]));
describe('Compute quiesce and restore against the emulator', () => {
  it('ends with exactly the pre-rotation set running', async () => {
    // Prepare
    h = await startWorkspace(EVERYTHING);
    // Act
    const stopped = await stopUntilStopped(h, itemFor({ activeRuns: 'cancel' }));
    const quiet = {
      clusters: ids(list(h, 'clusters'), 'cluster_id', ['PENDING', 'RUNNING', 'RESIZING', 'TERMINATING']),
      warehouses: ids(
        list(h, 'warehouses').filter((w) => w.enable_serverless_compute !== true),
        'id',
        ['RUNNING', 'STARTING', 'STOPPING'],
      ),
      pools: list(h, 'instancePools').filter((p) =>
        Object.values(p.stats as Json).some((n) => Number(n) > 0),
      ),
    };
    const restored = await restoreUntilRestored(h, stopped);
    // Assess
    expect(quiet).toEqual({ clusters: [], warehouses: [], pools: [] });
    expect(
      ids(list(h, 'clusters'), 'cluster_id', ['RUNNING']).filter((id) => !['dlt-cluster'].includes(id)),
    ).toEqual(['api-pending', 'pooled-api', 'ui-resizing', 'ui-running']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual([
      'wh-running',
      'wh-serverless',
      'wh-starting',
    ]);
    expect(ids(list(h, 'pipelines'), 'pipeline_id', ['RUNNING'])).toEqual(['p-continuous', 'p-serverless']);
    const pools = byId(list(h, 'instancePools'), 'instance_pool_id');
    expect(pools.get('pool-warm')).toMatchObject({
      min_idle_instances: 2,
      idle_instance_autotermination_minutes: 30,
      max_capacity: 20,
      custom_tags: { team: 'ml' },
    });
    expect(pools.get('pool-cold')?.idle_instance_autotermination_minutes).not.toBe(0);
    const jobs = byId(list(h, 'jobs'), 'job_id');
    const pause = (id: string, field: string) =>
      ((jobs.get(id)?.settings as Json | undefined)?.[field] as Json | undefined)?.pause_status;
    expect([
      pause('11', 'schedule'),
      pause('12', 'schedule'),
      pause('13', 'continuous'),
      pause('14', 'trigger'),
    ]).toEqual(['UNPAUSED', 'PAUSED', 'UNPAUSED', 'UNPAUSED']);
    expect(pause('15', 'schedule') ?? 'UNPAUSED').toBe('UNPAUSED');
    expect(restored.restoreCheck).toMatchObject({
      status: 'RESTORED',
      restored: { clusters: 4, warehouses: 3, pipelines: 2, pools: 2, jobs: 4 },
    });
  });

  it('never starts job, pipeline or SQL clusters directly, and never sends a full refresh', async () => {
    h = await startWorkspace(EVERYTHING);
    await restoreUntilRestored(h, await stopUntilStopped(h, itemFor()));
    const starts = writes(h).filter((e) => START_CALL.test(pathOf(e)));
    const startedClusters = starts
      .filter((e) => /clusters\/start/.test(pathOf(e)))
      .map((e) => (e.body as Json).cluster_id);
    expect(startedClusters.sort()).toEqual(['api-pending', 'pooled-api', 'ui-resizing', 'ui-running']);
    expect(
      starts.filter((e) => /pipelines/.test(pathOf(e))).map((e) => (e.body as Json).full_refresh),
    ).toEqual([false, false]);
    expect(starts.some((e) => /p-triggered|p-idle|wh-stopped/.test(pathOf(e)))).toBe(false);
  });

  it('pauses schedules before any stop call and unpauses only what was unpaused', async () => {
    h = await startWorkspace(EVERYTHING);
    await restoreUntilRestored(h, await stopUntilStopped(h, itemFor()));
    const log = writes(h);
    const updates = log.filter((e) => /jobs\/update/.test(pathOf(e)));
    const pauses = updates.filter((e) => JSON.stringify(e.body).includes('"PAUSED"'));
    const unpauses = updates.filter((e) => !JSON.stringify(e.body).includes('"PAUSED"'));
    const firstStop = log.findIndex((e) => STOP_CALL.test(pathOf(e)));
    const lastPause = log.lastIndexOf(pauses.at(-1) as (typeof log)[number]);
    expect(pauses.map((e) => (e.body as Json).job_id).sort()).toEqual([11, 13, 14, 15]);
    expect(lastPause).toBeLessThan(firstStop);
    expect(unpauses.map((e) => (e.body as Json).job_id).sort()).toEqual([11, 13, 14, 15]);
    // schedule and continuous never travel together; a job paused before is never touched
    expect(
      updates.some(
        (e) =>
          JSON.stringify(e.body).includes('"schedule"') && JSON.stringify(e.body).includes('"continuous"'),
      ),
    ).toBe(false);
    expect(updates.some((e) => (e.body as Json).job_id === 12)).toBe(false);
  });

  it('stops again an auto-started warehouse and a user-started cluster, and restores them too (DESIGN §6.4)', async () => {
    h = await startWorkspace(
      {
        clusters: [
          { cluster_id: 'was-running', cluster_source: 'UI', state: 'RUNNING' },
          { cluster_id: 'was-terminating', cluster_source: 'UI', state: 'TERMINATING' },
        ],
        warehouses: [
          { id: 'wh-was-running', state: 'RUNNING' },
          { id: 'wh-was-stopping', state: 'STOPPING' },
        ],
      },
      {
        faults: [
          { kind: 'autoStartWarehouse', id: 'wh-was-running', afterSeconds: 5 },
          { kind: 'autoStartWarehouse', id: 'wh-was-stopping', afterSeconds: 5 },
          { kind: 'startCluster', cluster_id: 'was-running', afterSeconds: 5 },
          { kind: 'startCluster', cluster_id: 'was-terminating', afterSeconds: 5 },
        ],
      },
    );
    const stopped = await stopUntilStopped(h, itemFor());
    const beforeRestore = h.emu.callLog().length;
    await restoreUntilRestored(h, stopped);
    const back = stopped.computeCheck?.restartedDuringWindow.map((r) => `${r.kind}:${r.id}`).sort();
    expect(back).toEqual([
      'cluster:was-running',
      'cluster:was-terminating',
      'warehouse:wh-was-running',
      'warehouse:wh-was-stopping',
    ]);
    const restoreStarts = h.emu
      .callLog()
      .slice(beforeRestore)
      .filter((e) => START_CALL.test(pathOf(e)))
      .map((e) => pathOf(e) + JSON.stringify(e.body ?? {}));
    // Started during the window by someone else: what they wanted running runs again after the rotation.
    expect(restoreStarts.some((s) => s.includes('was-terminating'))).toBe(true);
    expect(restoreStarts.some((s) => s.includes('wh-was-stopping'))).toBe(true);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['was-running', 'was-terminating']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh-was-running', 'wh-was-stopping']);
    expect(stopped.computeCheck?.restartedDuringWindow.every((r) => typeof r.seenAt === 'number')).toBe(true);
  });

  it('fails with DrainTimeout and touches nothing but the schedules when runs outlast the drain', async () => {
    h = await startWorkspace({
      clusters: [
        { cluster_id: 'ui', state: 'RUNNING' },
        { cluster_id: 'job-c', cluster_source: 'JOB', state: 'RUNNING' },
      ],
      warehouses: [{ id: 'wh', state: 'RUNNING' }],
      jobs: [
        {
          job_id: 11,
          settings: {
            schedule: { quartz_cron_expression: '0 0 * * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
          },
        },
      ],
      runs: [{ run_id: 901, job_id: 11, cluster_instance: { cluster_id: 'job-c' } }],
    });
    const item = await stop(itemFor({ activeRuns: 'wait', drainTimeoutMinutes: 30 }));
    const draining = await checkStopped(item);
    h.emu.clock.advance(31 * 60);
    const late = invoke(checkComputeStopped, { ...draining });
    await expect(late).rejects.toThrow(DrainTimeout);
    await expect(late).rejects.toThrow(/901/);
    expect(item.compute?.phase).toBe('draining');
    expect(draining.computeCheck).toMatchObject({ status: 'DRAINING', activeRuns: 1 });
    expect(writes(h).map((e) => pathOf(e))).toEqual(['/api/2.2/jobs/update']);
  });

  it('waits for a run to finish, then stops everything (activeRuns: wait)', async () => {
    h = await startWorkspace({
      clusters: [
        { cluster_id: 'ui', state: 'RUNNING' },
        { cluster_id: 'job-c', cluster_source: 'JOB', state: 'RUNNING' },
      ],
      runs: [{ run_id: 901, cluster_instance: { cluster_id: 'job-c' }, remainingSeconds: 600 }],
    });
    let item = await stop(itemFor({ activeRuns: 'wait' }));
    item = await checkStopped(item);
    const whileDraining = writes(h).length;
    h.emu.clock.advance(700);
    for (let i = 0; i < 40 && item.computeCheck?.status !== 'STOPPED'; i++) {
      item = await checkStopped(item);
      h.emu.clock.advance(15);
    }
    expect(whileDraining).toBe(0);
    expect(item.computeCheck?.status).toBe('STOPPED');
    expect(writes(h).some((e) => /runs\/cancel/.test(pathOf(e)))).toBe(false);
  });

  it('refuses with ActiveRunsPresent and touches nothing (activeRuns: fail)', async () => {
    h = await startWorkspace({ ...EVERYTHING, runs: [{ run_id: 901, job_id: 11 }] });
    const refused = invoke(stopCompute, itemFor({ activeRuns: 'fail' }));
    await expect(refused).rejects.toThrow(ActiveRunsPresent);
    await expect(refused).rejects.toThrow(/901/);
    expect(writes(h)).toEqual([]);
  });

  it('retries failed starts until the deadline, then lists every resource not back with its last error', async () => {
    h = await startWorkspace(
      {
        clusters: [
          { cluster_id: 'c-1', state: 'RUNNING' },
          { cluster_id: 'c-2', state: 'RUNNING' },
        ],
        warehouses: [{ id: 'wh-ok', state: 'RUNNING' }],
        pipelines: [{ pipeline_id: 'p-1', state: 'RUNNING', spec: { continuous: true } }],
      },
      {
        faults: [
          {
            method: 'POST',
            path: '/api/2.1/clusters/start',
            status: 400,
            error_code: 'INVALID_PARAMETER_VALUE',
            message: 'quota',
            times: 1000,
          },
          {
            method: 'POST',
            path: '/api/2.0/pipelines/*/updates',
            status: 400,
            error_code: 'INVALID_PARAMETER_VALUE',
            times: 1000,
          },
        ],
      },
    );
    let item = await restore(await stopUntilStopped(h, itemFor()));
    let error: unknown;
    let checks = 0;
    for (let i = 0; i < 300 && !error; i++) {
      checks++;
      h.emu.clock.advance(20);
      try {
        item = await checkRestored(item);
      } catch (e) {
        error = e;
      }
    }
    expect(item.restore?.failed.map((f) => `${f.kind}:${f.id}`).sort()).toEqual([
      'cluster:c-1',
      'cluster:c-2',
      'pipeline:p-1',
    ]);
    expect((error as Error).name).toBe('ComputeNotRestored');
    expect((error as Error).message).toMatch(/clusters: .*c-1.*c-2/);
    expect((error as Error).message).toMatch(/pipelines: p-1/);
    expect((error as Error).message).not.toMatch(/wh-ok/);
    expect((error as Error).message).toMatch(/c-1 \(.*quota/);
    // Retried with backoff until the 45-minute restore deadline, not given up at the first failure.
    expect(checks).toBeGreaterThan(10);
    expect(h.emu.clock.now()).toBeGreaterThan(item.restore?.deadline ?? Number.POSITIVE_INFINITY);
    const starts = h.emu.callLog().filter((e) => /clusters\/start/.test(e.path)).length;
    expect(starts).toBeGreaterThan(2 * 3);
    expect(starts).toBeLessThan(2 * 30);
  });

  it('fails with ComputeDidNotStop naming what still runs at the stop deadline', async () => {
    h = await startWorkspace(
      {
        clusters: [{ cluster_id: 'slow-to-die', state: 'RUNNING' }],
        warehouses: [{ id: 'wh', state: 'RUNNING' }],
      },
      { timings: { clusterTerminate: [7200, 7200], warehouseStop: [20, 20] } },
    );
    let item = await stop(itemFor());
    h.emu.clock.advance(60);
    item = await checkStopped(item);
    h.emu.clock.advance(31 * 60);
    const late = invoke(checkComputeStopped, item);
    await expect(late).rejects.toThrow(ComputeDidNotStop);
    await expect(late).rejects.toThrow(/clusters: slow-to-die/);
    expect(item.computeCheck?.status).toBe('STOPPING');
  });

  it('fails with ComputeNotRestored naming what is still starting at the restore deadline', async () => {
    h = await startWorkspace(
      {
        clusters: [{ cluster_id: 'slow-to-start', state: 'RUNNING' }],
        warehouses: [{ id: 'wh', state: 'RUNNING' }],
      },
      { timings: { clusterTerminate: [10, 10], clusterStart: [7200, 7200], warehouseStart: [20, 20] } },
    );
    let item = await restore(await stopUntilStopped(h, itemFor()));
    h.emu.clock.advance(60);
    item = await checkRestored(item);
    h.emu.clock.advance(46 * 60);
    const late = invoke(checkComputeRestored, item);
    await expect(late).rejects.toThrow(/clusters: slow-to-start \(not running by the deadline \(PENDING\)\)/);
    expect(item.restoreCheck).toMatchObject({ status: 'WAITING', pending: { clusters: 1, warehouses: 0 } });
  });

  it('keeps the first snapshot when a stop is retried', async () => {
    h = await startWorkspace({
      clusters: [{ cluster_id: 'ui', state: 'RUNNING' }],
      warehouses: [{ id: 'wh', state: 'RUNNING' }],
    });
    const item = itemFor();
    const first = await stop(item);
    h.emu.clock.advance(600);
    const second = await stop(item);
    const snapshot = (await snapshotStoreFor(loadSettings()).get(snapshotKeyOf(item))) as ComputeSnapshot;
    await restoreUntilRestored(h, second);
    expect(second.compute?.snapshotKey).toBe(first.compute?.snapshotKey);
    expect(snapshot.clusters.map((c) => c.state)).toEqual(['RUNNING']);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['ui']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh']);
  });

  it('does not start anything twice when restore is retried', async () => {
    h = await startWorkspace(EVERYTHING);
    const stopped = await stopUntilStopped(h, itemFor());
    await restore(stopped);
    await restoreUntilRestored(h, stopped);
    const starts = writes(h).filter((e) => START_CALL.test(pathOf(e)) && e.status < 400);
    const targets = starts.map(
      (e) => `${pathOf(e)}${String((e.body as Json | undefined)?.cluster_id ?? '')}`,
    );
    expect(targets.length).toBe(new Set(targets).size);
    // 4 all-purpose clusters, 3 warehouses, 2 continuous pipelines: each started exactly once
    expect(targets).toHaveLength(4 + 3 + 2);
  });

  it('restores from the derived key when stop-compute failed midway (compensation)', async () => {
    h = await startWorkspace(
      { clusters: [{ cluster_id: 'ui', state: 'RUNNING' }], warehouses: [{ id: 'wh', state: 'RUNNING' }] },
      {
        faults: [
          {
            method: 'POST',
            path: '/api/2.1/clusters/delete',
            status: 400,
            error_code: 'INVALID_PARAMETER_VALUE',
            times: 1,
          },
        ],
      },
    );
    const item = itemFor();
    await expect(invoke(stopCompute, item)).rejects.toThrow(/clusters\/delete/);
    const restored = await restoreUntilRestored(h, item);
    expect(restored.restore?.nothingToRestore).toBe(false);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh']);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['ui']);
  });

  it('has nothing to restore when no snapshot was taken, and calls nothing', async () => {
    h = await startWorkspace(EVERYTHING);
    const result = await invoke<RestoreResult>(restoreCompute, itemFor());
    const check = await checkRestored({ ...itemFor(), restore: result });
    expect(result).toMatchObject({ nothingToRestore: true, failed: [] });
    expect(check.restoreCheck?.status).toBe('RESTORED');
    expect(h.emu.callLog().filter((e) => !e.path.includes('/oidc/'))).toEqual([]);
  });
});

describe('Snapshot store selection', () => {
  it('uses the in-memory store when neither a bucket nor a directory is set', () => {
    expect(snapshotStoreFor({ snapshotBucket: undefined, snapshotDir: undefined })).toBeInstanceOf(
      MemorySnapshotStore,
    );
  });
});
