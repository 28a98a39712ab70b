import type { ActiveRunsPolicy } from '../rotation.ts';
import {
  type ClusterInfo,
  type ComputeCounts,
  type ComputeKind,
  type ComputeSnapshot,
  type ComputeState,
  MAX_LISTED,
  PAUSABLE_FIELDS,
  type Pausable,
  type PausableJob,
  type PendingCounts,
  type PipelineInfo,
  type PoolInfo,
  type ResourceRef,
  type RestoreCounts,
  type RunInfo,
  type WarehouseInfo,
} from './model.ts';

/**
 * Pure decisions of quiesce and restore over plain data (reference §3–7, "Gotchas for quiesce / restore").
 * Nothing here calls an API; stop.ts and restore.ts read the state, ask these functions, and act.
 */

/** Cluster states that count as running for the snapshot (what restore brings back). */
const RUNNING_CLUSTER = new Set(['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING']);
/** States in which a cluster still holds instances (UNKNOWN counts as live), i.e. blocks the update. */
export const LIVE_CLUSTER_STATES = ['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING', 'TERMINATING', 'UNKNOWN'];
const LIVE_CLUSTER = new Set(LIVE_CLUSTER_STATES);
/** Only all-purpose clusters can be started; JOB/PIPELINE/SQL/MODELS clusters come back through their owner. */
const ALL_PURPOSE = new Set(['UI', 'API']);
const RUNNING_WAREHOUSE = new Set(['RUNNING', 'STARTING']);
const QUIET_PIPELINE = new Set(['IDLE', 'FAILED', 'DELETED']);
const FINISHED_RUN = new Set(['TERMINATED', 'SKIPPED', 'INTERNAL_ERROR']);

/** A cluster with no `cluster_source` is treated as all-purpose (the API always sends one). */
export const isAllPurpose = (c: ClusterInfo): boolean =>
  c.cluster_source === undefined || ALL_PURPOSE.has(c.cluster_source);
export const isRunningCluster = (c: ClusterInfo): boolean => RUNNING_CLUSTER.has(c.state);
export const isLiveCluster = (c: ClusterInfo): boolean => LIVE_CLUSTER.has(c.state);
export const isRunningWarehouse = (w: WarehouseInfo): boolean => RUNNING_WAREHOUSE.has(w.state);
/** Serverless warehouses run in Databricks' plane, not the customer VPC: they do not block the update. */
export const isClassicWarehouse = (w: WarehouseInfo): boolean => w.enable_serverless_compute !== true;
export const isActivePipeline = (p: PipelineInfo): boolean => !QUIET_PIPELINE.has(p.state);
export const isActiveRun = (r: { life_cycle_state: string }): boolean =>
  !FINISHED_RUN.has(r.life_cycle_state);

/** Databricks' default pause status is UNPAUSED: a schedule without one is live. */
export const isUnpaused = (part: Pausable | undefined): boolean =>
  part !== undefined && (part.pause_status ?? 'UNPAUSED') === 'UNPAUSED';

/** A pool holds no instance at all (the update's precondition for pools). */
export const isPoolEmpty = (p: PoolInfo): boolean =>
  (p.stats?.idle_count ?? 0) +
    (p.stats?.used_count ?? 0) +
    (p.stats?.pending_idle_count ?? 0) +
    (p.stats?.pending_used_count ?? 0) ===
  0;

/** min idle 0 and idle auto-termination 0: the pool releases every idle instance at once. */
export const isPoolReleased = (p: PoolInfo): boolean =>
  (p.min_idle_instances ?? 0) === 0 && p.idle_instance_autotermination_minutes === 0;

/**
 * The pool's idle settings are as in the snapshot (an omitted min idle is Databricks' default 0). When the
 * snapshot had no auto-termination, restore omits it too and accepts whatever default Databricks applies,
 * as long as it is not the 0 the stop set.
 */
export function poolSettingsMatch(now: PoolInfo, before: PoolInfo): boolean {
  const minIdle = (now.min_idle_instances ?? 0) === (before.min_idle_instances ?? 0);
  const wasAuto = before.idle_instance_autotermination_minutes;
  const isAuto = now.idle_instance_autotermination_minutes;
  return minIdle && (wasAuto === undefined ? isAuto !== 0 : isAuto === wasAuto);
}

/** The job if one of its schedule / continuous / trigger is UNPAUSED, with those objects whole. */
export function pausableJob(job: {
  job_id: number;
  settings?: Record<string, unknown> & { name?: string };
}): PausableJob | undefined {
  const settings = job.settings ?? {};
  const out: PausableJob = { job_id: job.job_id };
  if (typeof settings.name === 'string') out.name = settings.name;
  let any = false;
  for (const field of PAUSABLE_FIELDS) {
    const part = settings[field] as Pausable | undefined;
    if (part && typeof part === 'object' && isUnpaused(part)) {
      out[field] = structuredClone(part);
      any = true;
    }
  }
  return any ? out : undefined;
}

/**
 * `new_settings` that pause a job: each UNPAUSED object sent complete with `pause_status: PAUSED`
 * (jobs/update replaces top-level fields whole). Only fields the job has are sent, so schedule and
 * continuous never appear together.
 */
export function pauseSettings(job: PausableJob): Record<string, Pausable> {
  const out: Record<string, Pausable> = {};
  for (const field of PAUSABLE_FIELDS) {
    const part = job[field];
    if (isUnpaused(part)) out[field] = { ...part, pause_status: 'PAUSED' };
  }
  return out;
}

/**
 * `new_settings` that give back a job's pause status as the snapshot had it, or `undefined` when every
 * field already is. The current object is sent (an edit made during the window is kept) with the
 * original pause status; a field removed meanwhile stays removed.
 */
export function unpauseSettings(
  before: PausableJob,
  now: Record<string, unknown> | undefined,
): Record<string, Pausable> | undefined {
  const out: Record<string, Pausable> = {};
  for (const field of PAUSABLE_FIELDS) {
    const was = before[field];
    const is = now?.[field] as Pausable | undefined;
    if (!isUnpaused(was) || !is || isUnpaused(is)) continue;
    const { pause_status: _current, ...rest } = is;
    out[field] = was?.pause_status === undefined ? rest : { ...rest, pause_status: was.pause_status };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** How active runs are handled under the rotation's policy. */
export interface RunDecision {
  /** Cancel now (`cancel`, emergencies, and runs of continuous jobs in every mode). */
  cancel: RunInfo[];
  /** Let finish before stopping anything else (`wait`). */
  drain: RunInfo[];
  /** Refuse the rotation because of them (`fail`). */
  refuse: RunInfo[];
}

/**
 * Splits active runs by policy. A continuous job's run never ends by itself (its paused `continuous`
 * only stops new runs), so it is always cancelled, and unpausing the job brings it back.
 */
export function decideRuns(
  runs: readonly RunInfo[],
  policy: ActiveRunsPolicy,
  emergency: boolean,
): RunDecision {
  const out: RunDecision = { cancel: [], drain: [], refuse: [] };
  for (const run of runs) {
    if (!isActiveRun(run)) continue;
    if (run.continuous || emergency || policy === 'cancel') out.cancel.push(run);
    else if (policy === 'wait') out.drain.push(run);
    else out.refuse.push(run);
  }
  return out;
}

/** Stop calls to make now (reference order: pipelines, warehouses, clusters, pools). */
export interface StopActions {
  pipelines: string[];
  warehouses: string[];
  clusters: string[];
  pools: PoolInfo[];
}

/**
 * What to stop given the current state. All-purpose clusters always; JOB/PIPELINE/SQL/MODELS clusters only
 * once no run is active (terminating a job cluster under a running run fails the run). Already stopping
 * resources are left alone (their stop is under way). Serverless warehouses are stopped once for a clean
 * snapshot (`serverlessWarehouses`), but not chased when a query wakes them: they are outside the VPC.
 */
export function stopActions(
  state: Omit<ComputeState, 'runs'>,
  options: { runsGone: boolean; serverlessWarehouses: boolean },
): StopActions {
  const { runsGone, serverlessWarehouses } = options;
  return {
    pipelines: state.pipelines
      .filter((p) => isActivePipeline(p) && p.state !== 'STOPPING')
      .map((p) => p.pipeline_id),
    warehouses: state.warehouses
      .filter((w) => isRunningWarehouse(w) && (serverlessWarehouses || isClassicWarehouse(w)))
      .map((w) => w.id),
    clusters: state.clusters
      .filter((c) => isLiveCluster(c) && c.state !== 'TERMINATING' && (runsGone || isAllPurpose(c)))
      .map((c) => c.cluster_id),
    pools: state.pools.filter((p) => p.state !== 'DELETED' && !isPoolReleased(p)),
  };
}

export const hasActions = (a: StopActions): boolean =>
  a.pipelines.length + a.warehouses.length + a.clusters.length + a.pools.length > 0;

/** Everything that still keeps the workspace from being quiesced, as resource refs. */
export function notStopped(state: ComputeState): ResourceRef[] {
  return [
    ...state.clusters.filter(isLiveCluster).map((c) => ({ kind: 'cluster' as const, id: c.cluster_id })),
    ...state.pools
      .filter((p) => !isPoolEmpty(p))
      .map((p) => ({ kind: 'pool' as const, id: p.instance_pool_id })),
    ...state.warehouses
      .filter((w) => isClassicWarehouse(w) && w.state !== 'STOPPED' && w.state !== 'DELETED')
      .map((w) => ({ kind: 'warehouse' as const, id: w.id })),
    ...state.pipelines
      .filter(isActivePipeline)
      .map((p) => ({ kind: 'pipeline' as const, id: p.pipeline_id })),
    ...state.runs.filter(isActiveRun).map((r) => ({ kind: 'run' as const, id: String(r.run_id) })),
  ];
}

/**
 * What came back after the stop had been issued: all-purpose clusters, warehouses and pipelines that need a
 * stop call again, pools whose settings were changed back, and runs the snapshot did not have (unless they
 * started before it). Leftover job/pipeline clusters are not "back" (their stop was only deferred until the runs ended) unless they are
 * found starting again (PENDING), or everything had already been seen stopped (`allSeenStopped`: a check
 * said STOPPED, or the PATCH was sent) — then nothing is deferred any more and any cluster running came back.
 */
export function cameBack(
  actions: StopActions,
  state: ComputeState,
  runsToCancel: readonly RunInfo[],
  snapshot: ComputeSnapshot,
  options: { allSeenStopped?: boolean } = {},
): ResourceRef[] {
  // A job or pipeline cluster found starting (PENDING) was started again: a deferred one would be RUNNING.
  const allPurpose = new Set(
    state.clusters
      .filter((c) => options.allSeenStopped === true || isAllPurpose(c) || c.state === 'PENDING')
      .map((c) => c.cluster_id),
  );
  const knownRuns = new Set(snapshot.runs.map((r) => r.run_id));
  return [
    ...actions.clusters.filter((id) => allPurpose.has(id)).map((id) => ({ kind: 'cluster' as const, id })),
    ...actions.warehouses.map((id) => ({ kind: 'warehouse' as const, id })),
    ...actions.pipelines.map((id) => ({ kind: 'pipeline' as const, id })),
    ...actions.pools.map((p) => ({ kind: 'pool' as const, id: p.instance_pool_id })),
    // A run the snapshot does not have but that started before it was only missed by its read (a paged
    // list of active runs shifts as runs end): it is not reported as started during the window.
    ...runsToCancel
      .filter(
        (r) =>
          !knownRuns.has(r.run_id) && !(typeof r.start_time === 'number' && r.start_time < snapshot.takenAt),
      )
      .map((r) => ({ kind: 'run' as const, id: String(r.run_id) })),
  ];
}

/** Adds new refs to a bounded, de-duplicated list; returns the list and the total number of distinct refs. */
export function mergeRefs(
  previous: readonly ResourceRef[],
  previousCount: number,
  added: readonly ResourceRef[],
): { refs: ResourceRef[]; count: number } {
  const refs = [...previous];
  const seen = new Set(previous.map((r) => `${r.kind}:${r.id}`));
  let count = previousCount;
  for (const ref of added) {
    const key = `${ref.kind}:${ref.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    count++;
    if (refs.length < MAX_LISTED) refs.push(ref);
  }
  return { refs, count };
}

/** Counts refs by kind (the small numbers a step result carries instead of ids). */
export function countRefs(refs: readonly ResourceRef[]): PendingCounts {
  const count = (kind: ResourceRef['kind']) => refs.filter((r) => r.kind === kind).length;
  return {
    clusters: count('cluster'),
    pools: count('pool'),
    warehouses: count('warehouse'),
    pipelines: count('pipeline'),
    runs: count('run'),
  };
}

/** The snapshot's headline numbers (what ran before the stop). */
export function snapshotCounts(s: ComputeSnapshot): ComputeCounts {
  return {
    clusters: s.clusters.filter(isLiveCluster).length,
    pools: restorablePools(s).length,
    warehouses: s.warehouses.filter(isRunningWarehouse).length,
    jobsPaused: s.jobs.length,
    runs: s.runs.filter(isActiveRun).length,
    pipelines: s.pipelines.filter(isActivePipeline).length,
  };
}

// ------------------------------------------------------------------------------------------- restore

/** Pools whose idle settings the stop changes, so restore must put them back. */
export const restorablePools = (s: ComputeSnapshot): PoolInfo[] =>
  s.pools.filter((p) => p.state !== 'DELETED' && !isPoolReleased(p));

/** Exactly what restore brings back: running all-purpose clusters, running warehouses, running continuous pipelines. */
export function restoreSet(s: ComputeSnapshot) {
  return {
    pools: restorablePools(s),
    clusters: s.clusters.filter((c) => isRunningCluster(c) && isAllPurpose(c)),
    warehouses: s.warehouses.filter(isRunningWarehouse),
    pipelines: s.pipelines.filter((p) => isActivePipeline(p) && p.continuous === true),
    jobs: s.jobs,
  };
}

export const restoreSetCounts = (s: ComputeSnapshot): RestoreCounts => {
  const set = restoreSet(s);
  return {
    clusters: set.clusters.length,
    pools: set.pools.length,
    warehouses: set.warehouses.length,
    pipelines: set.pipelines.length,
    jobs: set.jobs.length,
  };
};

/** The state restore compares the snapshot with (jobs: current settings by id, when read). */
export interface RestoreView {
  clusters: Map<string, ClusterInfo>;
  pools: Map<string, PoolInfo>;
  warehouses: Map<string, WarehouseInfo>;
  pipelines: Map<string, PipelineInfo>;
  /** `undefined` = not read this time (already verified). */
  jobs: Map<number, Record<string, unknown>> | undefined;
}

export type RestoreAction =
  | { kind: 'pool'; id: string; edit: PoolInfo }
  | { kind: 'cluster'; id: string }
  | { kind: 'warehouse'; id: string }
  | { kind: 'pipeline'; id: string }
  | { kind: 'job'; id: string; jobId: number; settings: Record<string, Pausable> };

/** Per resource of the restore set: back, to be acted on, still on its way, or failed (with why). */
export interface RestoreAssessment {
  restored: ResourceRef[];
  actions: RestoreAction[];
  /** Not back yet (includes those with an action). */
  pending: ResourceRef[];
  /** Cannot come back (deleted): named in `ComputeNotRestored` once nothing else is pending. */
  failed: Array<ResourceRef & { why: string }>;
  /** Started before and stopped again (a failed launch, a FAILED pipeline): started again, with why. */
  retrying: Array<ResourceRef & { why: string }>;
}

/**
 * The kinds of the restore set in which nothing is pending or failed: every resource of theirs is back (a
 * kind with nothing to restore is trivially so). Later turns need not read them again.
 */
export function restoredKinds(assessment: RestoreAssessment): ComputeKind[] {
  const open = new Set([...assessment.pending, ...assessment.failed].map((r) => r.kind));
  return RESTORE_KINDS.filter((kind) => !open.has(kind));
}

/** The kinds restore brings back, in its order. */
export const RESTORE_KINDS: readonly ComputeKind[] = ['pool', 'cluster', 'warehouse', 'pipeline', 'job'];

/**
 * Compares the restore set with the current state and decides, per resource: back, act (start / edit /
 * unpause), wait (on its way), or failed (it no longer exists: nothing can bring it back). Whatever can
 * still come back is acted on again at every check until the restore deadline (DESIGN §6.4): a cluster
 * TERMINATED for another reason than our stop (a failed launch) or a FAILED pipeline is started again and
 * listed in `retrying` with the reason, so the deadline's error can say why it is not back.
 */
export function assessRestore(
  s: ComputeSnapshot,
  view: RestoreView,
  phase: 'restore' | 'check',
  verified: ReadonlySet<ComputeKind> = new Set(),
): RestoreAssessment {
  const out: RestoreAssessment = { restored: [], actions: [], pending: [], failed: [], retrying: [] };
  const set = restoreSet(s);
  const judge = (
    ref: ResourceRef,
    decide: () => 'restored' | 'wait' | 'act' | { retry: string } | { failed: string },
    action: RestoreAction,
  ) => {
    // A kind an earlier turn saw wholly restored is not read again: its resources count as restored.
    const verdict = verified.has(ref.kind) ? 'restored' : decide();
    if (verdict === 'restored') out.restored.push(ref);
    else if (verdict === 'wait') out.pending.push(ref);
    else if (verdict === 'act' || 'retry' in verdict) {
      out.pending.push(ref);
      out.actions.push(action);
      if (verdict !== 'act') out.retrying.push({ ...ref, why: verdict.retry });
    } else out.failed.push({ ...ref, why: verdict.failed });
  };

  for (const pool of set.pools) {
    const now = view.pools.get(pool.instance_pool_id);
    const ref = { kind: 'pool' as const, id: pool.instance_pool_id };
    const edit: PoolInfo = {
      // Name, capacity and tags as they are now (an edit during the window is kept); idle settings as before.
      ...(now ?? pool),
      min_idle_instances: pool.min_idle_instances ?? 0,
      idle_instance_autotermination_minutes: pool.idle_instance_autotermination_minutes,
    };
    judge(
      ref,
      () => (!now ? { failed: 'no longer exists' } : poolSettingsMatch(now, pool) ? 'restored' : 'act'),
      {
        ...ref,
        edit,
      },
    );
  }
  for (const cluster of set.clusters) {
    const ref = { kind: 'cluster' as const, id: cluster.cluster_id };
    judge(
      ref,
      () => {
        const now = view.clusters.get(cluster.cluster_id);
        if (!now) return { failed: 'no longer exists' };
        if (now.state === 'RUNNING' || now.state === 'RESIZING') return 'restored';
        // ERROR is followed by TERMINATED, from which the start is retried.
        if (now.state === 'ERROR') return 'wait';
        if (now.state !== 'TERMINATED') return 'wait';
        // TERMINATED by our own stop (USER_REQUEST) means not started yet; any other reason means the start failed.
        const ours = now.termination_code === undefined || now.termination_code === 'USER_REQUEST';
        if (phase === 'check' && !ours) return { retry: `terminated: ${now.termination_code}` };
        return 'act';
      },
      ref,
    );
  }
  for (const warehouse of set.warehouses) {
    const ref = { kind: 'warehouse' as const, id: warehouse.id };
    judge(
      ref,
      () => {
        const now = view.warehouses.get(warehouse.id);
        if (!now || now.state === 'DELETED' || now.state === 'DELETING') return { failed: 'deleted' };
        if (now.state === 'RUNNING') return 'restored';
        return now.state === 'STOPPED' ? 'act' : 'wait';
      },
      ref,
    );
  }
  for (const pipeline of set.pipelines) {
    const ref = { kind: 'pipeline' as const, id: pipeline.pipeline_id };
    judge(
      ref,
      () => {
        const now = view.pipelines.get(pipeline.pipeline_id);
        if (!now || now.state === 'DELETED') return { failed: 'deleted' };
        if (now.state === 'RUNNING') return 'restored';
        if (now.state === 'FAILED' && phase === 'check') return { retry: 'pipeline FAILED' };
        return now.state === 'IDLE' || now.state === 'FAILED' ? 'act' : 'wait';
      },
      ref,
    );
  }
  for (const job of set.jobs) {
    const ref = { kind: 'job' as const, id: String(job.job_id) };
    if (!view.jobs || verified.has('job')) {
      out.restored.push(ref);
      continue;
    }
    const now = view.jobs.get(job.job_id);
    const settings = now ? unpauseSettings(job, now) : undefined;
    judge(ref, () => (!now ? { failed: 'no longer exists' } : settings ? 'act' : 'restored'), {
      ...ref,
      jobId: job.job_id,
      settings: settings ?? {},
    });
  }
  return out;
}

/** Counts refs of the restore kinds. */
export function restoreCounts(refs: readonly ResourceRef[]): RestoreCounts {
  const count = (kind: ResourceRef['kind']) => refs.filter((r) => r.kind === kind).length;
  return {
    clusters: count('cluster'),
    pools: count('pool'),
    warehouses: count('warehouse'),
    pipelines: count('pipeline'),
    jobs: count('job'),
  };
}

// ------------------------------------------------------------------------------- restore set union

/**
 * `base` with `extra`'s restore set added where `base` does not already restore the resource: a cluster,
 * warehouse or continuous pipeline `extra` has running (and `base` does not) is taken from `extra`; a pool
 * whose idle settings `extra` would restore (and `base` would not) takes `extra`'s settings; a job `extra`
 * had unpaused (and `base` does not) is added. Used for the compute that came back during the window
 * (`extra` = the restore additions) and for an earlier execution's snapshot whose compute was never
 * restored (`extra` = that snapshot). Restore works from the union, so nothing is ever dropped by a
 * short list answer or a retried rotation (DESIGN §6.4).
 */
export function mergeRestoreSet(
  base: ComputeSnapshot,
  extra: Pick<ComputeSnapshot, 'clusters' | 'warehouses' | 'pipelines' | 'pools'> &
    Partial<Pick<ComputeSnapshot, 'jobs'>>,
): ComputeSnapshot {
  const set = restoreSet(base);
  const merge = <T>(
    list: readonly T[],
    inSet: readonly T[],
    extraSet: readonly T[],
    idOf: (x: T) => string,
  ): T[] => {
    const restored = new Set(inSet.map(idOf));
    const taken = new Map(extraSet.filter((x) => !restored.has(idOf(x))).map((x) => [idOf(x), x]));
    const out = list.map((x) => taken.get(idOf(x)) ?? x);
    const present = new Set(list.map(idOf));
    for (const [id, x] of taken) if (!present.has(id)) out.push(x);
    return out;
  };
  const extraSet = restoreSet({
    ...base,
    clusters: extra.clusters,
    warehouses: extra.warehouses,
    pipelines: extra.pipelines,
    pools: extra.pools,
    jobs: extra.jobs ?? [],
  });
  return {
    ...base,
    clusters: merge(base.clusters, set.clusters, extraSet.clusters, (c) => c.cluster_id),
    warehouses: merge(base.warehouses, set.warehouses, extraSet.warehouses, (w) => w.id),
    pipelines: merge(base.pipelines, set.pipelines, extraSet.pipelines, (p) => p.pipeline_id),
    pools: merge(base.pools, set.pools, extraSet.pools, (p) => p.instance_pool_id),
    jobs: merge(base.jobs, set.jobs, extraSet.jobs, (j) => String(j.job_id)),
  };
}

/** Compute seen running during the window that the restore set does not hold yet. */
export interface CameBackCompute {
  clusters: ClusterInfo[];
  warehouses: WarehouseInfo[];
  /** Active pipelines not in the restore set (their spec decides whether they are restored). */
  pipelines: PipelineInfo[];
  pools: PoolInfo[];
}

/**
 * What runs now that restore would not bring back: running all-purpose clusters, running warehouses,
 * active pipelines and pools holding idle settings, none of them in `restoring`'s restore set. These are
 * stopped again and added to the restore set (a user started them, or a list answer missed them).
 */
export function notInRestoreSet(
  restoring: ComputeSnapshot,
  live: Omit<ComputeState, 'runs'>,
): CameBackCompute {
  const set = restoreSet(restoring);
  const clusters = new Set(set.clusters.map((c) => c.cluster_id));
  const warehouses = new Set(set.warehouses.map((w) => w.id));
  const pipelines = new Set(set.pipelines.map((p) => p.pipeline_id));
  const pools = new Set(set.pools.map((p) => p.instance_pool_id));
  return {
    clusters: live.clusters.filter(
      (c) => isAllPurpose(c) && isRunningCluster(c) && !clusters.has(c.cluster_id),
    ),
    warehouses: live.warehouses.filter((w) => isRunningWarehouse(w) && !warehouses.has(w.id)),
    pipelines: live.pipelines.filter(
      (p) => isActivePipeline(p) && p.state !== 'STOPPING' && !pipelines.has(p.pipeline_id),
    ),
    pools: live.pools.filter(
      (p) => p.state !== 'DELETED' && !isPoolReleased(p) && !pools.has(p.instance_pool_id),
    ),
  };
}
