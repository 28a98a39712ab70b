import { describe, expect, it } from 'vitest';
import type {
  ClusterInfo,
  ComputeSnapshot,
  ComputeState,
  PipelineInfo,
  PoolInfo,
  RunInfo,
  WarehouseInfo,
} from '../../lib/compute/model.ts';
import {
  assessRestore,
  cameBack,
  countRefs,
  decideRuns,
  hasActions,
  mergeRefs,
  mergeRestoreSet,
  notInRestoreSet,
  notStopped,
  pausableJob,
  poolSettingsMatch,
  type RestoreView,
  restoreCounts,
  restoreSet,
  restoreSetCounts,
  type StopActions,
  snapshotCounts,
  stopActions,
  unpauseSettings,
} from '../../lib/compute/rules.ts';

/**
 * Quiesce and restore decisions found by mutation testing (`npm run mutation`): every state that counts as
 * running or stopped, what restore does with each kind of resource, and the restore-set union.
 */

const schedule = { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC' };
const run = (id: number, extra: Partial<RunInfo> = {}): RunInfo => ({
  run_id: id,
  life_cycle_state: 'RUNNING',
  continuous: false,
  ...extra,
});
const cluster = (id: string, state: string, extra: Partial<ClusterInfo> = {}): ClusterInfo => ({
  cluster_id: id,
  cluster_source: 'UI',
  state,
  ...extra,
});
const warehouse = (id: string, state: string, extra: Partial<WarehouseInfo> = {}): WarehouseInfo => ({
  id,
  state,
  ...extra,
});
const pipeline = (id: string, state: string, extra: Partial<PipelineInfo> = {}): PipelineInfo => ({
  pipeline_id: id,
  state,
  ...extra,
});
const pool = (id: string, extra: Partial<PoolInfo> = {}): PoolInfo => ({
  instance_pool_id: id,
  instance_pool_name: id,
  node_type_id: 'i3.xlarge',
  min_idle_instances: 2,
  idle_instance_autotermination_minutes: 30,
  stats: { idle_count: 0, used_count: 0, pending_idle_count: 0, pending_used_count: 0 },
  ...extra,
});
const released = (id: string, extra: Partial<PoolInfo> = {}) =>
  pool(id, { min_idle_instances: 0, idle_instance_autotermination_minutes: 0, ...extra });

function state(extra: Partial<ComputeState> = {}): ComputeState {
  return { clusters: [], pools: [], warehouses: [], runs: [], pipelines: [], ...extra };
}

function snapshot(extra: Partial<ComputeSnapshot> = {}): ComputeSnapshot {
  return {
    version: 1,
    executionId: 'e',
    workspaceId: 1,
    deploymentName: 'd',
    takenAt: 0,
    clusters: [],
    pools: [],
    warehouses: [],
    jobs: [],
    runs: [],
    pipelines: [],
    ...extra,
  };
}

function view(extra: Partial<RestoreView> = {}): RestoreView {
  return {
    clusters: new Map(),
    pools: new Map(),
    warehouses: new Map(),
    pipelines: new Map(),
    jobs: new Map(),
    ...extra,
  };
}

const ids = (refs: ReadonlyArray<{ id: string }>) => refs.map((r) => r.id);
const noActions = (): StopActions => ({ pipelines: [], warehouses: [], clusters: [], pools: [] });

describe('What counts as stopped', () => {
  it.each(['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING', 'TERMINATING', 'UNKNOWN'])(
    'counts a cluster in %s as still holding instances',
    (clusterState) => {
      // Act
      const refs = notStopped(state({ clusters: [cluster('c', clusterState)] }));
      // Assess
      expect(refs).toEqual([{ kind: 'cluster', id: 'c' }]);
    },
  );

  it('lists only what still runs, each with its kind', () => {
    // Prepare
    const now = state({
      clusters: [cluster('c-on', 'RUNNING'), cluster('c-off', 'TERMINATED'), cluster('c-err', 'ERROR')],
      pools: [
        pool('p-empty'),
        pool('p-bare', { stats: undefined }),
        pool('p-idle', { stats: { idle_count: 3 } }),
        pool('p-used', { stats: { used_count: 1 } }),
        pool('p-pending', { stats: { pending_idle_count: 1 } }),
        pool('p-idle-used', { stats: { idle_count: 1, used_count: 1 } }),
        pool('p-idle-pending', { stats: { idle_count: 1, pending_idle_count: 1 } }),
        pool('p-balanced', {
          stats: { idle_count: 1, used_count: 1, pending_idle_count: 1, pending_used_count: 3 },
        }),
      ],
      warehouses: [
        warehouse('w-on', 'RUNNING'),
        warehouse('w-stopped', 'STOPPED'),
        warehouse('w-deleted', 'DELETED'),
        warehouse('w-deleting', 'DELETING'),
      ],
      pipelines: [
        pipeline('l-on', 'RUNNING'),
        pipeline('l-idle', 'IDLE'),
        pipeline('l-failed', 'FAILED'),
        pipeline('l-deleted', 'DELETED'),
      ],
      runs: [
        run(1),
        run(2, { life_cycle_state: 'TERMINATED' }),
        run(3, { life_cycle_state: 'SKIPPED' }),
        run(4, { life_cycle_state: 'INTERNAL_ERROR' }),
      ],
    });
    // Act
    const refs = notStopped(now);
    // Assess
    expect(refs).toEqual([
      { kind: 'cluster', id: 'c-on' },
      { kind: 'pool', id: 'p-idle' },
      { kind: 'pool', id: 'p-used' },
      { kind: 'pool', id: 'p-pending' },
      { kind: 'pool', id: 'p-idle-used' },
      { kind: 'pool', id: 'p-idle-pending' },
      { kind: 'pool', id: 'p-balanced' },
      { kind: 'warehouse', id: 'w-on' },
      { kind: 'warehouse', id: 'w-deleting' },
      { kind: 'pipeline', id: 'l-on' },
      { kind: 'run', id: '1' },
    ]);
  });

  it('counts what still runs by kind', () => {
    // Act
    const counts = countRefs([
      { kind: 'cluster', id: 'a' },
      { kind: 'cluster', id: 'b' },
      { kind: 'pool', id: 'p' },
      { kind: 'warehouse', id: 'w' },
      { kind: 'pipeline', id: 'l' },
      { kind: 'run', id: '1' },
      { kind: 'run', id: '2' },
      { kind: 'run', id: '3' },
    ]);
    // Assess
    expect(counts).toEqual({ clusters: 2, pools: 1, warehouses: 1, pipelines: 1, runs: 3 });
  });
});

describe('What the stop does', () => {
  it('leaves a deleted pool alone, and edits a pool that keeps idle instances or auto-terminates late', () => {
    // Prepare
    const now = state({
      pools: [
        pool('deleted', { state: 'DELETED' }),
        pool('min-idle', { min_idle_instances: 2, idle_instance_autotermination_minutes: 0 }),
        pool('slow', { min_idle_instances: 0, idle_instance_autotermination_minutes: 30 }),
        pool('default-min', { min_idle_instances: undefined, idle_instance_autotermination_minutes: 0 }),
      ],
    });
    // Act
    const actions = stopActions(now, { runsGone: true, serverlessWarehouses: true });
    // Assess
    expect(ids(actions.pools.map((p) => ({ id: p.instance_pool_id })))).toEqual(['min-idle', 'slow']);
  });

  it.each<[string, Partial<StopActions>]>([
    ['a pipeline', { pipelines: ['l'] }],
    ['a warehouse', { warehouses: ['w'] }],
    ['a cluster', { clusters: ['c'] }],
    ['a pool', { pools: [pool('p')] }],
  ])('has something to do when %s must be stopped', (_, some) => {
    // Act & Assess
    expect(hasActions({ ...noActions(), ...some })).toBe(true);
  });

  it('has nothing to do when nothing must be stopped', () => {
    // Act & Assess
    expect(hasActions(noActions())).toBe(false);
  });

  it.each(['wait', 'fail'] as const)('cancels batch runs in an emergency even under %s', (policy) => {
    // Act
    const d = decideRuns([run(1)], policy, true);
    // Assess
    expect(d).toEqual({ cancel: [run(1)], drain: [], refuse: [] });
  });

  it('cancels batch runs under the cancel policy', () => {
    // Act
    const d = decideRuns([run(1)], 'cancel', false);
    // Assess
    expect(d).toEqual({ cancel: [run(1)], drain: [], refuse: [] });
  });

  it.each(['SKIPPED', 'INTERNAL_ERROR'])('leaves a %s run alone', (lifeCycle) => {
    // Act
    const d = decideRuns([run(1, { life_cycle_state: lifeCycle })], 'cancel', true);
    // Assess
    expect(d).toEqual({ cancel: [], drain: [], refuse: [] });
  });
});

describe('Pausing jobs', () => {
  it('keeps the job id and name with the schedule it pauses', () => {
    // Act
    const job = pausableJob({ job_id: 7, settings: { name: 'nightly', schedule } });
    // Assess
    expect(job).toStrictEqual({ job_id: 7, name: 'nightly', schedule });
  });

  it('leaves out a name that is not a string', () => {
    // Act
    const job = pausableJob({ job_id: 7, settings: { schedule } });
    const odd = pausableJob({ job_id: 8, settings: { name: 42 as never, schedule } });
    // Assess
    expect(job).toStrictEqual({ job_id: 7, schedule });
    expect(odd).toStrictEqual({ job_id: 8, schedule });
  });

  it('ignores schedule fields that are null or not objects', () => {
    // Act
    const job = pausableJob({ job_id: 7, settings: { schedule: null, trigger: 'hourly', continuous: 1 } });
    // Assess
    expect(job).toBeUndefined();
  });

  it('never unpauses a trigger that was paused before the stop', () => {
    // Prepare: only the schedule was live; the trigger was paused by its owner
    const before = { job_id: 1, schedule: { ...schedule, pause_status: 'UNPAUSED' } };
    const now = {
      schedule: { ...schedule, pause_status: 'PAUSED' },
      trigger: { pause_status: 'PAUSED', file_arrival: { url: 's3://x/' } },
    };
    // Act
    const settings = unpauseSettings(before, now);
    // Assess
    expect(settings).toStrictEqual({ schedule: { ...schedule, pause_status: 'UNPAUSED' } });
  });

  it('gives back an implicit UNPAUSED without any pause_status field', () => {
    // Act
    const settings = unpauseSettings(
      { job_id: 1, schedule },
      { schedule: { ...schedule, pause_status: 'PAUSED' } },
    );
    // Assess
    expect(settings).toStrictEqual({ schedule });
  });
});

describe('Pool settings', () => {
  it('matches when minimum idle and auto-termination are as before', () => {
    // Act & Assess
    expect(poolSettingsMatch(pool('p'), pool('p'))).toBe(true);
  });

  it('does not match another auto-termination than before', () => {
    // Act & Assess
    expect(poolSettingsMatch(pool('p', { idle_instance_autotermination_minutes: 60 }), pool('p'))).toBe(
      false,
    );
  });

  it('does not match another minimum idle than before', () => {
    // Act & Assess
    expect(poolSettingsMatch(pool('p', { min_idle_instances: 0 }), pool('p'))).toBe(false);
    expect(
      poolSettingsMatch(pool('p', { min_idle_instances: 2 }), pool('p', { min_idle_instances: undefined })),
    ).toBe(false);
  });

  it('takes an omitted minimum idle as Databricks’ default 0', () => {
    // Act & Assess
    expect(
      poolSettingsMatch(pool('p', { min_idle_instances: undefined }), pool('p', { min_idle_instances: 0 })),
    ).toBe(true);
  });
});

describe('What came back during the window', () => {
  it('names the all-purpose clusters, warehouses, pipelines and pools stopped again, and runs the snapshot did not have', () => {
    // Prepare
    const actions: StopActions = {
      pipelines: ['l'],
      warehouses: ['w'],
      clusters: ['ui', 'job'],
      pools: [pool('p')],
    };
    const now = state({
      clusters: [cluster('ui', 'RUNNING'), cluster('job', 'RUNNING', { cluster_source: 'JOB' })],
    });
    // Act
    const refs = cameBack(actions, now, [run(1), run(2)], snapshot({ runs: [run(1)] }));
    // Assess
    expect(refs).toEqual([
      { kind: 'cluster', id: 'ui' },
      { kind: 'warehouse', id: 'w' },
      { kind: 'pipeline', id: 'l' },
      { kind: 'pool', id: 'p' },
      { kind: 'run', id: '2' },
    ]);
  });

  it('does not report a run the snapshot missed but that started before it, nor one whose start is unknown as old', () => {
    // Prepare: the snapshot was taken at 1,000; run 3 started before it (its read missed it), run 4 after
    const runs = [run(3, { start_time: 999 }), run(4, { start_time: 1_000 }), run(5)];
    // Act
    const refs = cameBack(noActions(), state({}), runs, snapshot({ takenAt: 1_000 }));
    // Assess
    expect(refs).toEqual([
      { kind: 'run', id: '4' },
      { kind: 'run', id: '5' },
    ]);
  });

  it('reports a job cluster found starting again, but not one whose stop was only deferred', () => {
    // Prepare
    const actions: StopActions = { ...noActions(), clusters: ['job-again', 'job-deferred'] };
    const now = state({
      clusters: [
        cluster('job-again', 'PENDING', { cluster_source: 'JOB' }),
        cluster('job-deferred', 'RUNNING', { cluster_source: 'JOB' }),
      ],
    });
    // Act
    const refs = cameBack(actions, now, [], snapshot());
    // Assess
    expect(refs).toEqual([{ kind: 'cluster', id: 'job-again' }]);
  });

  it('reports a running job cluster once everything had been seen stopped: nothing is deferred any more', () => {
    // Prepare
    const actions: StopActions = { ...noActions(), clusters: ['job-back'] };
    const now = state({ clusters: [cluster('job-back', 'RUNNING', { cluster_source: 'JOB' })] });
    // Act
    const refs = cameBack(actions, now, [], snapshot(), { allSeenStopped: true });
    // Assess
    expect(refs).toEqual([{ kind: 'cluster', id: 'job-back' }]);
  });

  it('keeps the refs listed before, and counts a ref repeated in one batch once', () => {
    // Act
    const merged = mergeRefs([{ kind: 'cluster', id: 'a' }], 1, [
      { kind: 'cluster', id: 'b' },
      { kind: 'cluster', id: 'b' },
      { kind: 'pool', id: 'a' },
    ]);
    // Assess
    expect(merged).toEqual({
      refs: [
        { kind: 'cluster', id: 'a' },
        { kind: 'cluster', id: 'b' },
        { kind: 'pool', id: 'a' },
      ],
      count: 3,
    });
  });

  it('finds what runs now that restore would not bring back', () => {
    // Prepare
    const restoring = snapshot({
      clusters: [cluster('c-known', 'RUNNING')],
      warehouses: [warehouse('w-known', 'RUNNING')],
      pipelines: [pipeline('l-known', 'RUNNING', { continuous: true })],
      pools: [pool('p-known')],
    });
    const live = state({
      clusters: [
        cluster('c-known', 'RUNNING'),
        cluster('c-new', 'RUNNING'),
        cluster('c-new-api', 'PENDING', { cluster_source: 'API' }),
        cluster('c-job', 'RUNNING', { cluster_source: 'JOB' }),
        cluster('c-off', 'TERMINATED'),
      ],
      warehouses: [
        warehouse('w-known', 'RUNNING'),
        warehouse('w-new', 'STARTING'),
        warehouse('w-off', 'STOPPED'),
      ],
      pipelines: [
        pipeline('l-known', 'RUNNING'),
        pipeline('l-new', 'RUNNING'),
        pipeline('l-stopping', 'STOPPING'),
        pipeline('l-idle', 'IDLE'),
      ],
      pools: [
        pool('p-known'),
        pool('p-new'),
        released('p-released'),
        pool('p-deleted', { state: 'DELETED' }),
      ],
    });
    // Act
    const back = notInRestoreSet(restoring, live);
    // Assess
    expect(ids(back.clusters.map((c) => ({ id: c.cluster_id })))).toEqual(['c-new', 'c-new-api']);
    expect(ids(back.warehouses)).toEqual(['w-new']);
    expect(ids(back.pipelines.map((p) => ({ id: p.pipeline_id })))).toEqual(['l-new']);
    expect(ids(back.pools.map((p) => ({ id: p.instance_pool_id })))).toEqual(['p-new']);
  });
});

describe('The restore set', () => {
  const s = snapshot({
    clusters: [
      cluster('c-restarting', 'RESTARTING'),
      cluster('c-off', 'TERMINATED'),
      cluster('c-job', 'RUNNING', { cluster_source: 'JOB' }),
      cluster('c-terminating', 'TERMINATING'),
    ],
    pools: [pool('p'), pool('p-deleted', { state: 'DELETED' }), released('p-released')],
    warehouses: [warehouse('w', 'RUNNING'), warehouse('w-off', 'STOPPED')],
    pipelines: [
      pipeline('l', 'RUNNING', { continuous: true }),
      pipeline('l-triggered', 'RUNNING', { continuous: false }),
      pipeline('l-idle', 'IDLE', { continuous: true }),
    ],
    jobs: [{ job_id: 1, schedule }],
    runs: [run(1), run(2, { life_cycle_state: 'TERMINATED' })],
  });

  it('brings back a restarting all-purpose cluster and skips a deleted pool', () => {
    // Act
    const set = restoreSet(s);
    // Assess
    expect(ids(set.clusters.map((c) => ({ id: c.cluster_id })))).toEqual(['c-restarting']);
    expect(ids(set.pools.map((p) => ({ id: p.instance_pool_id })))).toEqual(['p']);
  });

  it('counts what ran before the stop', () => {
    // Act & Assess
    expect(snapshotCounts(s)).toEqual({
      clusters: 3,
      pools: 1,
      warehouses: 1,
      jobsPaused: 1,
      runs: 1,
      pipelines: 2,
    });
  });

  it('counts what restore brings back', () => {
    // Act & Assess
    expect(restoreSetCounts(s)).toEqual({ clusters: 1, pools: 1, warehouses: 1, pipelines: 1, jobs: 1 });
  });

  it('counts restored refs by kind', () => {
    // Act
    const counts = restoreCounts([
      { kind: 'cluster', id: 'a' },
      { kind: 'pool', id: 'p' },
      { kind: 'pool', id: 'q' },
      { kind: 'warehouse', id: 'w' },
      { kind: 'pipeline', id: 'l' },
      { kind: 'job', id: '1' },
      { kind: 'job', id: '2' },
      { kind: 'job', id: '3' },
      { kind: 'run', id: '9' },
    ]);
    // Assess
    expect(counts).toEqual({ clusters: 1, pools: 2, warehouses: 1, pipelines: 1, jobs: 3 });
  });
});

describe('Restore, per resource', () => {
  it('fails a pool and a cluster that no longer exist, naming why', () => {
    // Act
    const a = assessRestore(
      snapshot({ pools: [pool('p')], clusters: [cluster('c', 'RUNNING')] }),
      view(),
      'restore',
    );
    // Assess
    expect(a.failed).toEqual([
      { kind: 'pool', id: 'p', why: 'no longer exists' },
      { kind: 'cluster', id: 'c', why: 'no longer exists' },
    ]);
    expect(a).toMatchObject({ restored: [], actions: [], pending: [], retrying: [] });
  });

  it('counts a resizing cluster as restored, and waits for one in ERROR or PENDING', () => {
    // Act
    const a = assessRestore(
      snapshot({
        clusters: [
          cluster('resizing', 'RUNNING'),
          cluster('error', 'RUNNING'),
          cluster('pending', 'RUNNING'),
        ],
      }),
      view({
        clusters: new Map([
          ['resizing', cluster('resizing', 'RESIZING')],
          ['error', cluster('error', 'ERROR', { termination_code: 'CLOUD_PROVIDER_LAUNCH_FAILURE' })],
          ['pending', cluster('pending', 'PENDING')],
        ]),
      }),
      'check',
    );
    // Assess
    expect(ids(a.restored)).toEqual(['resizing']);
    expect(ids(a.pending)).toEqual(['error', 'pending']);
    expect(a.actions).toEqual([]);
    expect(a.retrying).toEqual([]);
  });

  it.each([
    ['restore', 'USER_REQUEST'],
    ['restore', 'CLOUD_PROVIDER_LAUNCH_FAILURE'],
    ['check', 'USER_REQUEST'],
    ['check', undefined],
  ] as const)('starts a terminated cluster during %s (%s) without calling it a retry', (phase, code) => {
    // Act
    const a = assessRestore(
      snapshot({ clusters: [cluster('c', 'RUNNING')] }),
      view({ clusters: new Map([['c', cluster('c', 'TERMINATED', { termination_code: code })]]) }),
      phase,
    );
    // Assess
    expect(a).toEqual({
      restored: [],
      actions: [{ kind: 'cluster', id: 'c' }],
      pending: [{ kind: 'cluster', id: 'c' }],
      failed: [],
      retrying: [],
    });
  });

  it('judges each warehouse by its state', () => {
    // Act
    const a = assessRestore(
      snapshot({
        warehouses: ['gone', 'deleted', 'deleting', 'running', 'stopped', 'starting'].map((id) =>
          warehouse(id, 'RUNNING'),
        ),
      }),
      view({
        warehouses: new Map([
          ['deleted', warehouse('deleted', 'DELETED')],
          ['deleting', warehouse('deleting', 'DELETING')],
          ['running', warehouse('running', 'RUNNING')],
          ['stopped', warehouse('stopped', 'STOPPED')],
          ['starting', warehouse('starting', 'STARTING')],
        ]),
      }),
      'restore',
    );
    // Assess
    expect(a).toEqual({
      restored: [{ kind: 'warehouse', id: 'running' }],
      actions: [{ kind: 'warehouse', id: 'stopped' }],
      pending: [
        { kind: 'warehouse', id: 'stopped' },
        { kind: 'warehouse', id: 'starting' },
      ],
      failed: [
        { kind: 'warehouse', id: 'gone', why: 'deleted' },
        { kind: 'warehouse', id: 'deleted', why: 'deleted' },
        { kind: 'warehouse', id: 'deleting', why: 'deleted' },
      ],
      retrying: [],
    });
  });

  it('judges each continuous pipeline by its state, retrying a FAILED one at the check', () => {
    // Prepare
    const s = snapshot({
      pipelines: ['gone', 'deleted', 'running', 'idle', 'failed', 'starting'].map((id) =>
        pipeline(id, 'RUNNING', { continuous: true }),
      ),
    });
    const now = view({
      pipelines: new Map([
        ['deleted', pipeline('deleted', 'DELETED')],
        ['running', pipeline('running', 'RUNNING')],
        ['idle', pipeline('idle', 'IDLE')],
        ['failed', pipeline('failed', 'FAILED')],
        ['starting', pipeline('starting', 'STARTING')],
      ]),
    });
    // Act
    const atRestore = assessRestore(s, now, 'restore');
    const atCheck = assessRestore(s, now, 'check');
    // Assess
    expect(atRestore).toEqual({
      restored: [{ kind: 'pipeline', id: 'running' }],
      actions: [
        { kind: 'pipeline', id: 'idle' },
        { kind: 'pipeline', id: 'failed' },
      ],
      pending: [
        { kind: 'pipeline', id: 'idle' },
        { kind: 'pipeline', id: 'failed' },
        { kind: 'pipeline', id: 'starting' },
      ],
      failed: [
        { kind: 'pipeline', id: 'gone', why: 'deleted' },
        { kind: 'pipeline', id: 'deleted', why: 'deleted' },
      ],
      retrying: [],
    });
    expect(atCheck.retrying).toEqual([{ kind: 'pipeline', id: 'failed', why: 'pipeline FAILED' }]);
    expect(atCheck.actions).toEqual(atRestore.actions);
  });

  it('unpauses a job with the settings that give back its schedule', () => {
    // Act
    const a = assessRestore(
      snapshot({ jobs: [{ job_id: 5, schedule }] }),
      view({ jobs: new Map([[5, { schedule: { ...schedule, pause_status: 'PAUSED' } }]]) }),
      'restore',
    );
    // Assess
    expect(a.actions).toEqual([{ kind: 'job', id: '5', jobId: 5, settings: { schedule } }]);
    expect(ids(a.pending)).toEqual(['5']);
  });

  it('counts a pool with its idle settings back and a job with its schedule live as restored', () => {
    // Act
    const a = assessRestore(
      snapshot({ pools: [pool('p')], jobs: [{ job_id: 5, schedule }] }),
      view({ pools: new Map([['p', pool('p')]]), jobs: new Map([[5, { schedule }]]) }),
      'check',
    );
    // Assess
    expect(a).toEqual({
      restored: [
        { kind: 'pool', id: 'p' },
        { kind: 'job', id: '5' },
      ],
      actions: [],
      pending: [],
      failed: [],
      retrying: [],
    });
  });

  it('counts a job restored when its settings were not read again', () => {
    // Act
    const a = assessRestore(
      snapshot({ jobs: [{ job_id: 5, schedule }] }),
      view({ jobs: undefined }),
      'check',
    );
    // Assess
    expect(a).toEqual({
      restored: [{ kind: 'job', id: '5' }],
      actions: [],
      pending: [],
      failed: [],
      retrying: [],
    });
  });
});

describe('The restore-set union', () => {
  const base = snapshot({
    executionId: 'exec-2',
    clusters: [cluster('c-both', 'RUNNING', { cluster_name: 'base' }), cluster('c-off', 'TERMINATED')],
    warehouses: [warehouse('w-off', 'STOPPED')],
    pipelines: [pipeline('l-off', 'IDLE', { continuous: true })],
    pools: [released('p-released'), pool('p-both', { min_idle_instances: 1 })],
    jobs: [{ job_id: 1, schedule }],
    runs: [run(9)],
  });

  it('takes what the other set would restore and this one would not, keeping the rest', () => {
    // Prepare
    const extra = {
      clusters: [
        cluster('c-both', 'RUNNING', { cluster_name: 'extra' }),
        cluster('c-off', 'RUNNING'),
        cluster('c-new', 'RUNNING'),
        cluster('c-job', 'RUNNING', { cluster_source: 'JOB' }),
      ],
      warehouses: [
        warehouse('w-off', 'RUNNING'),
        warehouse('w-new', 'STARTING'),
        warehouse('w-stopped', 'STOPPED'),
      ],
      pipelines: [
        pipeline('l-off', 'RUNNING', { continuous: true }),
        pipeline('l-triggered', 'RUNNING'),
        pipeline('l-new', 'STARTING', { continuous: true }),
      ],
      pools: [
        pool('p-released', { min_idle_instances: 3 }),
        pool('p-both', { min_idle_instances: 5 }),
        released('p-new'),
      ],
      jobs: [
        { job_id: 1, schedule: { ...schedule, timezone_id: 'CET' } },
        { job_id: 2, schedule },
      ],
    };
    // Act
    const union = mergeRestoreSet(base, extra);
    // Assess
    expect(union).toEqual({
      ...base,
      clusters: [
        cluster('c-both', 'RUNNING', { cluster_name: 'base' }),
        cluster('c-off', 'RUNNING'),
        cluster('c-new', 'RUNNING'),
      ],
      warehouses: [warehouse('w-off', 'RUNNING'), warehouse('w-new', 'STARTING')],
      pipelines: [
        pipeline('l-off', 'RUNNING', { continuous: true }),
        pipeline('l-new', 'STARTING', { continuous: true }),
      ],
      pools: [pool('p-released', { min_idle_instances: 3 }), pool('p-both', { min_idle_instances: 1 })],
      jobs: [
        { job_id: 1, schedule },
        { job_id: 2, schedule },
      ],
    });
    expect(restoreSetCounts(union)).toEqual({ clusters: 3, pools: 2, warehouses: 2, pipelines: 2, jobs: 2 });
  });

  it('adds no job when the other set carries none', () => {
    // Act
    const union = mergeRestoreSet(base, { clusters: [], warehouses: [], pipelines: [], pools: [] });
    // Assess
    expect(union).toEqual(base);
  });
});
