import { describe, expect, it } from 'vitest';
import type { ComputeSnapshot, PoolInfo, RunInfo } from '../../lib/compute/model.ts';
import {
  assessRestore,
  decideRuns,
  mergeRefs,
  notStopped,
  pausableJob,
  pauseSettings,
  poolSettingsMatch,
  type RestoreView,
  restoreSet,
  stopActions,
  unpauseSettings,
} from '../../lib/compute/rules.ts';

const schedule = { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC' };
const run = (id: number, extra: Partial<RunInfo> = {}): RunInfo => ({
  run_id: id,
  life_cycle_state: 'RUNNING',
  continuous: false,
  ...extra,
});
const pool = (extra: Partial<PoolInfo> = {}): PoolInfo => ({
  instance_pool_id: 'pool-1',
  instance_pool_name: 'pool',
  node_type_id: 'i3.xlarge',
  min_idle_instances: 2,
  idle_instance_autotermination_minutes: 30,
  stats: { idle_count: 0, used_count: 0, pending_idle_count: 0, pending_used_count: 0 },
  ...extra,
});

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

describe('Pausing jobs', () => {
  it('pauses the complete schedule object and never adds continuous to a scheduled job', () => {
    const job = pausableJob({
      job_id: 1,
      settings: { name: 'n', schedule: { ...schedule, pause_status: 'UNPAUSED' } },
    });
    expect(job && pauseSettings(job)).toEqual({ schedule: { ...schedule, pause_status: 'PAUSED' } });
  });

  it('treats a schedule without pause_status as live, as Databricks does', () => {
    expect(pausableJob({ job_id: 1, settings: { schedule } })?.schedule).toEqual(schedule);
  });

  it('leaves out jobs whose schedules and triggers are all paused', () => {
    const settings = {
      schedule: { ...schedule, pause_status: 'PAUSED' },
      trigger: { pause_status: 'PAUSED' },
    };
    expect(pausableJob({ job_id: 1, settings })).toBeUndefined();
  });

  it('pauses a trigger with its file_arrival settings', () => {
    const trigger = { pause_status: 'UNPAUSED', file_arrival: { url: 's3://x/' } };
    const job = pausableJob({ job_id: 1, settings: { continuous: { pause_status: 'PAUSED' }, trigger } });
    expect(job && pauseSettings(job)).toEqual({ trigger: { ...trigger, pause_status: 'PAUSED' } });
  });
});

describe('Unpausing jobs', () => {
  it('sends the current object with the original pause status, keeping an edit made during the window', () => {
    const before = { job_id: 1, schedule: { ...schedule, pause_status: 'UNPAUSED' } };
    const now = { schedule: { ...schedule, quartz_cron_expression: '0 0 5 * * ?', pause_status: 'PAUSED' } };
    expect(unpauseSettings(before, now)).toEqual({
      schedule: { ...schedule, quartz_cron_expression: '0 0 5 * * ?', pause_status: 'UNPAUSED' },
    });
  });

  it('gives back an implicit UNPAUSED as no pause_status at all', () => {
    expect(
      unpauseSettings({ job_id: 1, schedule }, { schedule: { ...schedule, pause_status: 'PAUSED' } }),
    ).toEqual({
      schedule,
    });
  });

  it('has nothing to do when the job is already unpaused', () => {
    const before = { job_id: 1, continuous: { pause_status: 'UNPAUSED' } };
    expect(unpauseSettings(before, { continuous: { pause_status: 'UNPAUSED' } })).toBeUndefined();
  });
});

describe('Active runs', () => {
  it('refuses on a batch run under fail, but cancels a continuous job run', () => {
    const d = decideRuns([run(1), run(2, { continuous: true })], 'fail', false);
    expect(d.refuse.map((r) => r.run_id)).toEqual([1]);
    expect(d.cancel.map((r) => r.run_id)).toEqual([2]);
  });

  it('drains batch runs under wait', () => {
    expect(decideRuns([run(1)], 'wait', false).drain.map((r) => r.run_id)).toEqual([1]);
  });

  it('cancels everything in an emergency whatever the policy', () => {
    const d = decideRuns([run(1), run(2)], 'wait', true);
    expect([d.cancel.length, d.drain.length, d.refuse.length]).toEqual([2, 0, 0]);
  });

  it('ignores finished runs', () => {
    const d = decideRuns([run(1, { life_cycle_state: 'TERMINATED' })], 'fail', false);
    expect(d).toEqual({ cancel: [], drain: [], refuse: [] });
  });
});

describe('Stop actions', () => {
  const state = {
    clusters: [
      { cluster_id: 'ui', cluster_source: 'UI', state: 'RUNNING' },
      { cluster_id: 'job', cluster_source: 'JOB', state: 'RUNNING' },
      { cluster_id: 'going', cluster_source: 'UI', state: 'TERMINATING' },
    ],
    pools: [
      pool(),
      pool({ instance_pool_id: 'released', min_idle_instances: 0, idle_instance_autotermination_minutes: 0 }),
    ],
    warehouses: [
      { id: 'classic', state: 'RUNNING' },
      { id: 'serverless', state: 'STARTING', enable_serverless_compute: true },
      { id: 'stopped', state: 'STOPPED' },
    ],
    pipelines: [
      { pipeline_id: 'p-run', state: 'RUNNING' },
      { pipeline_id: 'p-stopping', state: 'STOPPING' },
      { pipeline_id: 'p-idle', state: 'IDLE' },
    ],
  };

  it('never terminates a job cluster while a run is active', () => {
    expect(stopActions(state, { runsGone: false, serverlessWarehouses: true }).clusters).toEqual(['ui']);
  });

  it('terminates every consuming cluster once the runs are gone, but not one already terminating', () => {
    expect(stopActions(state, { runsGone: true, serverlessWarehouses: true }).clusters).toEqual([
      'ui',
      'job',
    ]);
  });

  it('chases serverless warehouses only when asked', () => {
    expect(stopActions(state, { runsGone: true, serverlessWarehouses: false }).warehouses).toEqual([
      'classic',
    ]);
    expect(stopActions(state, { runsGone: true, serverlessWarehouses: true }).warehouses).toEqual([
      'classic',
      'serverless',
    ]);
  });

  it('stops only active pipelines that are not already stopping and edits only unreleased pools', () => {
    const a = stopActions(state, { runsGone: true, serverlessWarehouses: true });
    expect(a.pipelines).toEqual(['p-run']);
    expect(a.pools.map((p) => p.instance_pool_id)).toEqual(['pool-1']);
  });

  it('counts a pool with any instance, a stopping warehouse and an active run as not stopped, but no serverless warehouse', () => {
    const refs = notStopped({
      clusters: [],
      pools: [pool({ stats: { pending_used_count: 1 } })],
      warehouses: [
        { id: 'w', state: 'STOPPING' },
        { id: 's', state: 'RUNNING', enable_serverless_compute: true },
      ],
      pipelines: [],
      runs: [run(7)],
    });
    expect(refs).toEqual([
      { kind: 'pool', id: 'pool-1' },
      { kind: 'warehouse', id: 'w' },
      { kind: 'run', id: '7' },
    ]);
  });
});

describe('Restore set', () => {
  const s = snapshot({
    clusters: [
      { cluster_id: 'ui', cluster_source: 'UI', state: 'RESIZING' },
      { cluster_id: 'api', cluster_source: 'API', state: 'PENDING' },
      { cluster_id: 'off', cluster_source: 'UI', state: 'TERMINATED' },
      { cluster_id: 'job', cluster_source: 'JOB', state: 'RUNNING' },
      { cluster_id: 'dlt', cluster_source: 'PIPELINE_MAINTENANCE', state: 'RUNNING' },
      { cluster_id: 'sql', cluster_source: 'SQL', state: 'RUNNING' },
      { cluster_id: 'model', cluster_source: 'MODELS', state: 'RUNNING' },
    ],
    warehouses: [
      { id: 'run', state: 'RUNNING' },
      { id: 'start', state: 'STARTING' },
      { id: 'stop', state: 'STOPPED' },
    ],
    pipelines: [
      { pipeline_id: 'cont', state: 'RUNNING', continuous: true },
      { pipeline_id: 'trig', state: 'RUNNING', continuous: false },
      { pipeline_id: 'idle', state: 'IDLE', continuous: true },
    ],
    pools: [
      pool(),
      pool({ instance_pool_id: 'zero', min_idle_instances: 0, idle_instance_autotermination_minutes: 0 }),
    ],
  });

  it('holds only running all-purpose clusters, running warehouses, running continuous pipelines and changed pools', () => {
    const set = restoreSet(s);
    expect(set.clusters.map((c) => c.cluster_id)).toEqual(['ui', 'api']);
    expect(set.warehouses.map((w) => w.id)).toEqual(['run', 'start']);
    expect(set.pipelines.map((p) => p.pipeline_id)).toEqual(['cont']);
    expect(set.pools.map((p) => p.instance_pool_id)).toEqual(['pool-1']);
  });

  it('starts a cluster our stop terminated, and waits for one still terminating', () => {
    const a = assessRestore(
      snapshot({
        clusters: [
          { cluster_id: 'a', state: 'RUNNING' },
          { cluster_id: 'b', state: 'RUNNING' },
        ],
      }),
      view({
        clusters: new Map([
          ['a', { cluster_id: 'a', state: 'TERMINATED', termination_code: 'USER_REQUEST' }],
          ['b', { cluster_id: 'b', state: 'TERMINATING' }],
        ]),
      }),
      'restore',
    );
    expect(a.actions).toEqual([{ kind: 'cluster', id: 'a' }]);
    expect(a.pending.map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('starts again a cluster that terminated after its start for another reason, saying why', () => {
    const a = assessRestore(
      snapshot({ clusters: [{ cluster_id: 'a', state: 'RUNNING' }] }),
      view({
        clusters: new Map([
          [
            'a',
            { cluster_id: 'a', state: 'TERMINATED', termination_code: 'AWS_INACCESSIBLE_KMS_KEY_FAILURE' },
          ],
        ]),
      }),
      'check',
    );
    expect(a.failed).toEqual([]);
    expect(a.retrying).toEqual([
      { kind: 'cluster', id: 'a', why: 'terminated: AWS_INACCESSIBLE_KMS_KEY_FAILURE' },
    ]);
    expect(a.actions).toEqual([{ kind: 'cluster', id: 'a' }]);
    expect(a.pending.map((r) => r.id)).toEqual(['a']);
  });

  it('retries a start that failed before, and counts it restored once it runs', () => {
    const s2 = snapshot({
      clusters: [
        { cluster_id: 'a', state: 'RUNNING' },
        { cluster_id: 'b', state: 'RUNNING' },
      ],
    });
    const a = assessRestore(
      s2,
      view({
        clusters: new Map([
          ['a', { cluster_id: 'a', state: 'TERMINATED', termination_code: 'USER_REQUEST' }],
          ['b', { cluster_id: 'b', state: 'RUNNING' }],
        ]),
      }),
      'check',
    );
    expect(a.failed).toEqual([]);
    expect(a.actions).toEqual([{ kind: 'cluster', id: 'a' }]);
    expect(a.restored.map((r) => r.id)).toEqual(['b']);
  });

  it('fails a deleted warehouse and a missing job, naming why', () => {
    const a = assessRestore(
      snapshot({ warehouses: [{ id: 'w', state: 'RUNNING' }], jobs: [{ job_id: 5, schedule }] }),
      view({ warehouses: new Map([['w', { id: 'w', state: 'DELETED' }]]) }),
      'restore',
    );
    expect(a.failed).toEqual([
      { kind: 'warehouse', id: 'w', why: 'deleted' },
      { kind: 'job', id: '5', why: 'no longer exists' },
    ]);
  });

  it('edits a pool back with its snapshot idle settings and its current name and tags', () => {
    const before = pool({ custom_tags: { team: 'a' } });
    const now = pool({
      instance_pool_name: 'renamed',
      min_idle_instances: 0,
      idle_instance_autotermination_minutes: 0,
    });
    const a = assessRestore(
      snapshot({ pools: [before] }),
      view({ pools: new Map([['pool-1', now]]) }),
      'restore',
    );
    expect(a.actions).toEqual([
      {
        kind: 'pool',
        id: 'pool-1',
        edit: expect.objectContaining({
          instance_pool_name: 'renamed',
          min_idle_instances: 2,
          idle_instance_autotermination_minutes: 30,
        }),
      },
    ]);
  });

  it('does not accept the stop’s zero auto-termination for a pool that had none set', () => {
    const before = pool({ min_idle_instances: 0, idle_instance_autotermination_minutes: undefined });
    expect(
      poolSettingsMatch(pool({ min_idle_instances: 0, idle_instance_autotermination_minutes: 0 }), before),
    ).toBe(false);
    expect(
      poolSettingsMatch(pool({ min_idle_instances: 0, idle_instance_autotermination_minutes: 60 }), before),
    ).toBe(true);
  });
});

describe('Restarted-during-window list', () => {
  it('keeps distinct refs, at most 50 listed, with the full count', () => {
    const refs = Array.from({ length: 70 }, (_, i) => ({ kind: 'cluster' as const, id: `c${i}` }));
    const merged = mergeRefs([{ kind: 'cluster', id: 'c0' }], 1, refs);
    expect([merged.refs.length, merged.count]).toEqual([50, 70]);
  });
});
