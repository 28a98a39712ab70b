import { mapLimit, settleLimit } from '../concurrency.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { DatabricksApiError, DatabricksThrottled, isDeferred } from '../databricks/errors.ts';
import type { ClusterDetails, ClusterState } from '../databricks/types.ts';
import { logger } from '../log.ts';
import { LIMITS } from '../settings.ts';
import type { ComputeDeps } from './deps.ts';
import { ComputeNotRestored, describeRefs } from './errors.ts';
import {
  type ClusterInfo,
  type ComputeKind,
  type ComputeSnapshot,
  MAX_LISTED,
  type ResourceRef,
  type RestoreCheckItem,
  type RestoreCheckResult,
  type RestoreCounts,
  type RestoreFailure,
  type RestoreItem,
  type RestoreResult,
  type RetryingStart,
  snapshotKeyOf,
} from './model.ts';
import {
  clusterInfo,
  isNotFound,
  orNotFound,
  pipelineInfo,
  poolEditRequest,
  poolInfo,
  warehouseInfo,
} from './read.ts';
import {
  assessRestore,
  isUnpaused,
  type RestoreAction,
  type RestoreView,
  restoreCounts,
  restoredKinds,
  restoreSet,
  restoreSetCounts,
} from './rules.ts';
import {
  loadAdditions,
  loadRestoreSet,
  loadSnapshot,
  openSnapshotKeyOf,
  type SnapshotStore,
} from './snapshot-store.ts';

const MINUTE = 60_000;
const NONE: RestoreCounts = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, jobs: 0 };
/** A failed start is tried again after 20 s, doubling to at most 5 minutes, until the restore deadline. */
const RETRY_FIRST_MS = 20_000;
const RETRY_MAX_MS = 5 * MINUTE;

/**
 * `restore-compute`: brings back exactly what ran — the snapshot's restore set united with the compute
 * that came back during the window (the restore additions): pool idle settings, the all-purpose clusters
 * that were running (never JOB/PIPELINE/SQL/MODELS clusters), the warehouses that were running or starting,
 * the continuous pipelines that were running (never a full refresh), and, last, the schedules / continuous /
 * triggers that were UNPAUSED. Also the compensation step after a failure anywhere: without `item.compute`
 * the key is derived, and without a snapshot nothing was touched. Idempotent: the current state is read
 * first, so a running cluster is not started twice. Per-resource errors are collected, not thrown; a
 * throttled call is not a failure (it is simply tried again at the next check).
 */
/** Whose snapshot a restore may read: this workspace's, taken by this execution (DESIGN §6.4). */
function ownerOf(item: { executionId: string; workspace: { workspaceId: number } }) {
  return { workspaceId: item.workspace.workspaceId, executionId: item.executionId };
}

export async function restoreCompute(item: RestoreItem, deps: ComputeDeps): Promise<RestoreResult> {
  const key = item.compute?.snapshotKey ?? snapshotKeyOf(item);
  const deadline = deps.now() + deps.settings.computeRestoreTimeoutMinutes * MINUTE;
  const owner = ownerOf(item);
  const snapshot = await loadRestoreSet(deps.store, key, owner);
  if (!snapshot) {
    return {
      snapshotKey: key,
      nothingToRestore: true,
      started: NONE,
      failed: [],
      failedCount: 0,
      deadline,
      cameBack: { count: 0, events: [] },
    };
  }
  const additions = await loadAdditions(deps.store, key, owner);
  const cameBack = {
    count: additions?.count ?? 0,
    events: (additions?.events ?? []).slice(0, 20).map((e) => ({
      kind: e.kind,
      id: e.id,
      seenAt: e.seenAt,
      ...(e.state === undefined ? {} : { state: e.state }),
    })),
  };
  const limit = deps.settings.apiConcurrency;
  let view: RestoreView;
  try {
    view = await readRestoreView(deps.api, snapshot, { jobs: true, limit });
  } catch (error) {
    if (!(error instanceof DatabricksThrottled)) throw error;
    // Throttling is a speed, not a failure: nothing is started here, the checks start everything.
    logger.warn(
      'compute restore throttled by Databricks before it could read the workspace; the checks restore it',
      {
        snapshotKey: key,
        endpoint: error.endpoint,
      },
    );
    return {
      snapshotKey: key,
      nothingToRestore: false,
      started: NONE,
      failed: [],
      failedCount: 0,
      deadline,
      deferred: Object.values(restoreSetCounts(snapshot)).reduce((a, b) => a + b, 0),
      cameBack,
    };
  }
  const assessment = assessRestore(snapshot, view, 'restore');
  const outcome = await runActions(deps.api, assessment.actions, limit);
  const failed: RestoreFailure[] = [
    ...assessment.failed.map((f) => ({ kind: f.kind, id: f.id, error: f.why })),
    ...outcome.failed,
  ];
  if (failed.length > 0)
    logger.warn('compute restore: some resources failed (retried until the restore deadline)', {
      snapshotKey: key,
      failed: failed.slice(0, MAX_LISTED),
    });
  return {
    snapshotKey: key,
    nothingToRestore: false,
    started: restoreCounts(outcome.done),
    failed: failed.slice(0, MAX_LISTED),
    failedCount: failed.length,
    deadline,
    confirmed: confirmedByRestore(assessment, outcome.done),
    ...(outcome.deferred > 0 ? { deferred: outcome.deferred } : {}),
    ...(outcome.throttledKinds.length > 0 ? { throttledKinds: outcome.throttledKinds } : {}),
    cameBack,
  };
}

/**
 * Kinds wholly restored once this step is done: every resource was already back, or (pools, jobs) was put
 * back by a call that takes effect when it answers — an `instance-pools/edit` or a `jobs/update` that
 * succeeded leaves the settings as sent, so listing pools or jobs again would only repeat what is known.
 * Compute kinds (clusters, warehouses, pipelines) need a check to see them running.
 */
function confirmedByRestore(
  assessment: ReturnType<typeof assessRestore>,
  done: readonly ResourceRef[],
): ComputeKind[] {
  const acted = new Set(done.map((r) => `${r.kind}:${r.id}`));
  const settled = {
    ...assessment,
    pending: assessment.pending.filter(
      (r) => !((r.kind === 'pool' || r.kind === 'job') && acted.has(`${r.kind}:${r.id}`)),
    ),
  };
  return restoredKinds(settled);
}

/**
 * `check-compute-restored`, one turn of the restore loop: RESTORED when everything of the restore set runs
 * again; WAITING while something is on its way or can still come back — a start that failed (5xx, 409,
 * throttling, a failed launch) is tried again with backoff until the restore deadline. Fails with
 * `ComputeNotRestored` naming every resource not back, each with its last error or state, once the deadline
 * has passed or only resources that no longer exist are left.
 */
export async function checkComputeRestored(
  item: RestoreCheckItem,
  deps: ComputeDeps,
): Promise<RestoreCheckResult> {
  if (item.restore.nothingToRestore)
    return { status: 'RESTORED', restored: NONE, pending: NONE, jobsVerified: true };
  const key = item.restore.snapshotKey;
  const limit = deps.settings.apiConcurrency;
  const snapshot =
    (await loadRestoreSet(deps.store, key, ownerOf(item))) ??
    (await loadSnapshot(deps.store, key, item.workspace.workspaceId, item.executionId));
  // Kinds seen wholly restored (by an earlier check, or by restore-compute itself) are not read again.
  const last = item.restoreCheck;
  const verified = new Set<ComputeKind>(
    last && (last.restoreDeadline === undefined || last.restoreDeadline === item.restore.deadline)
      ? [...(last.verified ?? []), ...(last.jobsVerified ? ['job' as const] : [])]
      : (item.restore.confirmed ?? []),
  );
  const jobsVerified = verified.has('job');
  const now = deps.now();
  const sameRestore = last !== undefined && last.restoreDeadline === item.restore.deadline;
  const deadline = (sameRestore ? last?.deadline : undefined) ?? item.restore.deadline;
  // Time lost to throttling moves the deadline (see `extendedDeadline`).
  const extended = () =>
    extendedDeadline(deadline, item.restore.deadline, deps.settings.computeRestoreTimeoutMinutes, {
      now,
      since:
        (sameRestore ? last?.checkedAt : undefined) ??
        item.restore.deadline - deps.settings.computeRestoreTimeoutMinutes * MINUTE,
    });
  let view: RestoreView;
  try {
    view = await readRestoreView(deps.api, snapshot, {
      jobs: !jobsVerified,
      limit,
      skip: verified,
      // Past the deadline this turn names what is not back: every cluster is read then.
      clustersNotUp: now <= deadline,
    });
  } catch (error) {
    if (!(error instanceof DatabricksThrottled) || now > deadline) throw error;
    // Throttling is a speed, not a failure: nothing is known this turn, the next one reads again.
    logger.warn('compute restore check throttled by Databricks; checked again at the next turn', {
      workspaceId: item.workspace.workspaceId,
      endpoint: error.endpoint,
    });
    return {
      status: 'WAITING',
      restored: last?.restored ?? NONE,
      pending: last?.pending ?? restoreSetCounts(snapshot),
      jobsVerified,
      verified: [...verified],
      restoreDeadline: item.restore.deadline,
      ...(last?.retrying ? { retrying: last.retrying } : {}),
      ...(last?.throttledKinds ? { throttledKinds: last.throttledKinds } : {}),
      throttled: true,
      deadline: extended(),
      checkedAt: now,
    };
  }
  const assessment = assessRestore(snapshot, view, 'check', verified);

  // Failed starts from restore-compute or an earlier check: tried again once their backoff has passed.
  const retrying = new Map<string, RetryingStart>();
  for (const r of item.restoreCheck?.retrying ?? seedRetrying(item.restore.failed, now))
    retrying.set(`${r.kind}:${r.id}`, r);
  const due = assessment.actions.filter((a) => (retrying.get(`${a.kind}:${a.id}`)?.nextAt ?? 0) <= now);
  const throttledBefore = (last ?? item.restore).throttledKinds ?? [];
  const outcome = await runActions(deps.api, due, limit, throttledBefore);
  for (const a of outcome.done) retrying.delete(`${a.kind}:${a.id}`);
  const notes = new Map(assessment.retrying.map((r) => [`${r.kind}:${r.id}`, r.why]));
  for (const f of outcome.failed) {
    const ref = `${f.kind}:${f.id}`;
    const attempts = (retrying.get(ref)?.attempts ?? 0) + 1;
    const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** (attempts - 1));
    const why = notes.get(ref);
    retrying.set(ref, {
      kind: f.kind,
      id: f.id,
      error: why ? `${why}; ${f.error}` : f.error,
      attempts,
      nextAt: now + backoff,
    });
  }
  for (const [ref, why] of notes) {
    const known = retrying.get(ref);
    if (known && !known.error.startsWith(why))
      retrying.set(ref, { ...known, error: `${why}; ${known.error}` });
  }
  const gone = new Set(outcome.gone.map((r) => `${r.kind}:${r.id}`));
  const failed = [...assessment.failed, ...outcome.gone.map((r) => ({ ...r, why: 'no longer exists' }))];
  const pending = assessment.pending.filter((r) => !gone.has(`${r.kind}:${r.id}`));

  if (failed.length === 0 && pending.length === 0) {
    await closeOpenSnapshot(deps.store, item.workspace.workspaceId, key);
    return { status: 'RESTORED', restored: restoreSetCounts(snapshot), pending: NONE, jobsVerified: true };
  }
  if (pending.length === 0 || now > deadline) {
    const states = stateOf(view);
    const notBack = [
      ...failed,
      ...pending.map((r) => {
        const last = retrying.get(`${r.kind}:${r.id}`)?.error ?? notes.get(`${r.kind}:${r.id}`);
        const state = states(r);
        return { ...r, why: last ?? `not running by the deadline${state ? ` (${state})` : ''}` };
      }),
    ];
    throw new ComputeNotRestored(
      `compute of workspace ${item.workspace.workspaceId} (${item.workspace.deploymentName}) was not fully restored; start these by hand (snapshot ${deps.store.locate(key)}): ${describeRefs(notBack)}`,
      {
        details: {
          workspaceId: item.workspace.workspaceId,
          snapshotKey: key,
          notRestored: restoreCounts(notBack),
        },
      },
    );
  }
  const stillRetrying = [...retrying.values()].filter((r) =>
    pending.some((p) => p.kind === r.kind && p.id === r.id),
  );
  const nowVerified = restoredKinds({ ...assessment, pending, failed });
  return {
    status: 'WAITING',
    restored: restoreCounts(assessment.restored),
    pending: restoreCounts([...pending, ...failed]),
    jobsVerified: nowVerified.includes('job'),
    verified: nowVerified,
    restoreDeadline: item.restore.deadline,
    ...(outcome.throttledKinds.length > 0 ? { throttledKinds: outcome.throttledKinds } : {}),
    deadline: outcome.throttledKinds.length > 0 ? extended() : deadline,
    checkedAt: now,
    retrying: stillRetrying.slice(0, MAX_LISTED),
  };
}

/**
 * What is still stopped or paused, in words, for the execution's error when restoring failed or was not
 * attempted (the workspace was still updating). Never throws: when the snapshot or the workspace cannot be
 * read, it says so and names where the snapshot is, so an operator can restore by hand.
 */
export async function describeNotRestored(
  item: RestoreItem,
  deps: ComputeDeps,
): Promise<{ summary: string; snapshot: string; notRestored?: RestoreCounts }> {
  const key = item.compute?.snapshotKey ?? snapshotKeyOf(item);
  const where = deps.store.locate(key);
  let snapshot: ComputeSnapshot | undefined;
  try {
    snapshot = await loadRestoreSet(deps.store, key, ownerOf(item));
  } catch (error) {
    return {
      summary: `the compute snapshot ${where} could not be read (${errorText(error)}): what was stopped is unknown; check the workspace and restore by hand`,
      snapshot: where,
    };
  }
  if (!snapshot) return { summary: `nothing was stopped (no snapshot at ${where})`, snapshot: where };
  const set = restoreSet(snapshot);
  let notBack: Array<ResourceRef & { why?: string }>;
  try {
    const view = await readRestoreView(deps.api, snapshot, {
      jobs: true,
      limit: deps.settings.apiConcurrency,
    });
    const assessment = assessRestore(snapshot, view, 'check');
    const states = stateOf(view);
    const lastErrors = new Map(
      [...(item.restore?.failed ?? []), ...(item.restoreCheck?.retrying ?? [])].map((f) => [
        `${f.kind}:${f.id}`,
        f.error,
      ]),
    );
    notBack = [
      ...assessment.failed,
      ...assessment.pending.map((r) => {
        const why = [states(r), lastErrors.get(`${r.kind}:${r.id}`)].filter((x) => x !== undefined);
        return why.length > 0 ? { ...r, why: why.join('; last error: ') } : r;
      }),
    ];
  } catch (error) {
    const unknown = `state unknown: ${errorText(error).slice(0, 120)}`;
    notBack = [
      ...set.clusters.map((c) => ({ kind: 'cluster' as const, id: c.cluster_id })),
      ...set.pools.map((p) => ({ kind: 'pool' as const, id: p.instance_pool_id })),
      ...set.warehouses.map((w) => ({ kind: 'warehouse' as const, id: w.id })),
      ...set.pipelines.map((p) => ({ kind: 'pipeline' as const, id: p.pipeline_id })),
      ...set.jobs.map((j) => ({ kind: 'job' as const, id: String(j.job_id) })),
    ];
    return {
      summary:
        notBack.length === 0
          ? `nothing to restore (snapshot ${where})`
          : `could not read the workspace (${unknown}); what ran before and may still be stopped or paused — ${describeRefs(notBack)}; snapshot ${where}`,
      snapshot: where,
      notRestored: restoreCounts(notBack),
    };
  }
  const stopped = notBack.filter((r) => r.kind !== 'job');
  const paused = notBack.filter((r) => r.kind === 'job');
  const parts = [
    stopped.length > 0 ? `still stopped: ${describeRefs(stopped)}` : 'no compute left stopped',
    paused.length > 0 ? `schedules still paused: ${describeRefs(paused)}` : 'no schedule left paused',
  ];
  return {
    summary: `${parts.join('; ')}; snapshot ${where}`,
    snapshot: where,
    notRestored: restoreCounts(notBack),
  };
}

/**
 * The deadline after a turn Databricks throttled: later by the time since the previous turn (the time that
 * went to waiting out 429s rather than to bringing compute back), but never later than `maxMinutes` after
 * the loop began — `LIMITS`' bound for the loop, what the execution's history is sized for (DESIGN §6.10).
 */
function extendedDeadline(
  deadline: number,
  original: number,
  timeoutMinutes: number,
  turn: { now: number; since: number },
  maxMinutes: number = LIMITS.computeRestoreTimeoutMinutes,
): number {
  const began = original - timeoutMinutes * MINUTE;
  const cap = began + Math.max(timeoutMinutes, maxMinutes) * MINUTE;
  return Math.min(cap, Math.max(deadline, deadline + Math.max(0, turn.now - turn.since)));
}

/** Everything is back: the workspace no longer has compute stopped under this snapshot. */
async function closeOpenSnapshot(store: SnapshotStore, workspaceId: number, key: string): Promise<void> {
  const pointerKey = openSnapshotKeyOf(workspaceId);
  const pointer = (await store.getDocument(pointerKey)) as { snapshotKey?: unknown } | undefined;
  if (pointer?.snapshotKey === key) await store.deleteDocument(pointerKey);
}

function seedRetrying(failed: readonly RestoreFailure[], now: number): RetryingStart[] {
  return failed.map((f) => ({ ...f, attempts: 1, nextAt: now }));
}

function stateOf(view: RestoreView): (ref: ResourceRef) => string | undefined {
  return (ref) => {
    switch (ref.kind) {
      case 'cluster':
        return view.clusters.get(ref.id)?.state;
      case 'warehouse':
        return view.warehouses.get(ref.id)?.state;
      case 'pipeline':
        return view.pipelines.get(ref.id)?.state;
      case 'job': {
        const settings = view.jobs?.get(Number(ref.id));
        if (!settings) return undefined;
        const paused = ['schedule', 'continuous', 'trigger'].filter((f) => {
          const part = settings[f] as { pause_status?: string } | undefined;
          return part !== undefined && !isUnpaused(part);
        });
        return paused.length > 0 ? `${paused.join(', ')} PAUSED` : undefined;
      }
      default:
        return undefined;
    }
  };
}

/**
 * The current state of the restore set only: lists, not gets (all-purpose clusters by source filter; a
 * cluster the list no longer shows is fetched on its own). Kinds with nothing to restore are not read, nor
 * those in `skip` (seen wholly restored already).
 */
async function readRestoreView(
  api: WorkspaceApi,
  snapshot: ComputeSnapshot,
  options: { jobs: boolean; limit: number; skip?: ReadonlySet<ComputeKind>; clustersNotUp?: boolean },
): Promise<RestoreView> {
  const set = restoreSet(snapshot);
  const read = (kind: ComputeKind, count: number) => count > 0 && !options.skip?.has(kind);
  const readClusters = read('cluster', set.clusters.length);
  const [clusters, pools, warehouses, pipelines, jobs] = await Promise.all([
    readClusters ? listRestoreClusters(api, set.clusters, options.clustersNotUp === true) : undefined,
    read('pool', set.pools.length) ? api.listInstancePools() : [],
    read('warehouse', set.warehouses.length) ? api.listWarehouses() : [],
    read('pipeline', set.pipelines.length) ? api.listPipelines() : [],
    options.jobs && read('job', set.jobs.length) ? api.listJobs() : undefined,
  ]);
  const clusterMap = new Map((clusters?.listed ?? []).map((c) => [c.cluster_id, clusterInfo(c)]));
  if (clusters?.notUpOnly) {
    // Not in a state short of running: up (RUNNING, RESIZING) as far as this turn needs to know. Whether
    // it still exists is settled by the full list that every turn ending the loop reads.
    for (const c of set.clusters)
      if (!clusterMap.has(c.cluster_id)) clusterMap.set(c.cluster_id, { ...c, state: 'RUNNING' });
  }
  const unlisted =
    readClusters && !clusters?.notUpOnly ? set.clusters.filter((c) => !clusterMap.has(c.cluster_id)) : [];
  await mapLimit(unlisted, options.limit, async (c) => {
    const found = await orNotFound(() => api.getCluster(c.cluster_id));
    if (found) clusterMap.set(c.cluster_id, clusterInfo(found));
  });
  return {
    clusters: clusterMap,
    pools: new Map(pools.map((p) => [p.instance_pool_id, poolInfo(p)])),
    warehouses: new Map(warehouses.map((w) => [w.id, warehouseInfo(w)])),
    pipelines: new Map(pipelines.map((p) => [p.pipeline_id, pipelineInfo(p)])),
    jobs: jobs && new Map(jobs.map((j) => [j.job_id, (j.settings ?? {}) as Record<string, unknown>])),
  };
}

/** Cluster states short of running: what a restore check waits on or acts on. */
const NOT_UP: ClusterState[] = ['PENDING', 'RESTARTING', 'TERMINATING', 'TERMINATED', 'ERROR', 'UNKNOWN'];

/**
 * The all-purpose clusters, by source filter. With `notUpOnly` (a restore check) only those in a state
 * short of running (`filter_by.cluster_states`, reference §8: one filtered list beats a get per cluster),
 * so the answer shrinks page by page as clusters come up; when none of the restore set is left in it, the
 * full list is read in the same turn, so the turn that ends the loop sees every cluster (one deleted
 * meanwhile is then named as gone).
 */
async function listRestoreClusters(
  api: WorkspaceApi,
  restoring: readonly ClusterInfo[],
  notUpOnly: boolean,
): Promise<{ listed: ClusterDetails[]; notUpOnly: boolean }> {
  if (notUpOnly) {
    const ids = new Set(restoring.map((c) => c.cluster_id));
    const notUp = await api.listClusters({ cluster_sources: ['UI', 'API'], cluster_states: NOT_UP });
    if (notUp.some((c) => ids.has(c.cluster_id))) return { listed: notUp, notUpOnly: true };
  }
  return { listed: await api.listClusters({ cluster_sources: ['UI', 'API'] }), notUpOnly: false };
}

/** Order of restore: pool settings, clusters, warehouses, pipelines, and schedules last (reference §4 gotchas). */
const ORDER: ReadonlyArray<RestoreAction['kind']> = ['pool', 'cluster', 'warehouse', 'pipeline', 'job'];

/**
 * Performs the actions group by group, in the reference's order — except that kinds Databricks throttled
 * in the previous turn go last, so one throttled endpoint does not hold up the others turn after turn. A
 * throttled call is neither done nor failed: Databricks throttling that outlasts the client's retries stops
 * this turn's calls of that group, and a call the invocation had no time left to try is not made; both are
 * `deferred` and made at the next check — throttling is a speed, not a failure. A resource that turned out
 * to be gone is `gone`; every other error is a failure with its reason, retried later.
 */
async function runActions(
  api: WorkspaceApi,
  actions: readonly RestoreAction[],
  limit: number,
  throttledBefore: readonly ComputeKind[] = [],
): Promise<{
  done: ResourceRef[];
  failed: RestoreFailure[];
  gone: ResourceRef[];
  deferred: number;
  throttledKinds: ComputeKind[];
}> {
  const done: ResourceRef[] = [];
  const failed: RestoreFailure[] = [];
  const gone: ResourceRef[] = [];
  const throttledKinds = new Set<ComputeKind>();
  let deferred = 0;
  const later = new Set(throttledBefore);
  const order = [...ORDER.filter((k) => !later.has(k)), ...ORDER.filter((k) => later.has(k))];
  for (const kind of order) {
    const group = actions.filter((a) => a.kind === kind);
    const results = await settleLimit(group, limit, (a) => perform(api, a), {
      stopAfter: (error) => error instanceof DatabricksThrottled,
    });
    results.forEach((r, i) => {
      const action = group[i] as RestoreAction;
      const ref = { kind: action.kind, id: action.id };
      if (r.ok) done.push(ref);
      else if (r.skipped || isDeferred(r.error)) {
        deferred++;
        // Answered 429 (not merely out of time behind another kind's throttling).
        if (r.error instanceof DatabricksApiError && r.error.status === 429) throttledKinds.add(kind);
      } else if (isNotFound(r.error)) gone.push(ref);
      else failed.push({ ...ref, error: errorText(r.error) });
    });
  }
  if (deferred > 0)
    logger.warn('compute restore: Databricks throttled; the rest is started at the next check', {
      deferred,
      throttled: [...throttledKinds],
    });
  return { done, failed, gone, deferred, throttledKinds: [...throttledKinds] };
}

function perform(api: WorkspaceApi, action: RestoreAction): Promise<unknown> {
  switch (action.kind) {
    case 'pool':
      return api.editInstancePool(
        poolEditRequest(action.edit, {
          min_idle_instances: action.edit.min_idle_instances ?? 0,
          idle_instance_autotermination_minutes: action.edit.idle_instance_autotermination_minutes,
        }),
      );
    case 'cluster':
      // The client treats INVALID_STATE on a cluster that is already PENDING/RUNNING as started.
      return api.startCluster(action.id);
    case 'warehouse':
      return api.startWarehouse(action.id);
    case 'pipeline':
      return api.startPipelineUpdate(action.id);
    case 'job':
      return api.updateJob(action.jobId, action.settings);
  }
}

/** A short, secret-free reason: for a Databricks error its status, code and Databricks' own message. */
function errorText(error: unknown): string {
  const text =
    error instanceof DatabricksApiError
      ? `${error.status === 0 ? 'no answer' : `HTTP ${error.status}`} ${error.errorCode}${error.apiMessage ? `: ${error.apiMessage}` : ''}`
      : error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
  return text.length > 160 ? `${text.slice(0, 160)}…` : text;
}
