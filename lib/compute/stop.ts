import { mapLimit, settleLimit } from '../concurrency.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { DatabricksThrottled, isDeferred } from '../databricks/errors.ts';
import { logger } from '../log.ts';
import { LIMITS } from '../settings.ts';
import * as z from '../zod.ts';
import type { ComputeDeps } from './deps.ts';
import {
  ActiveRunsPresent,
  ComputeDidNotStop,
  ComputeNotKeptStopped,
  DrainTimeout,
  describeRefs,
} from './errors.ts';
import {
  type ComputeSnapshot,
  type ComputeState,
  type PausableJob,
  type PipelineInfo,
  PipelineInfoSchema,
  type ResourceRef,
  type RestoreAdditions,
  type RunInfo,
  type StopCheckItem,
  StopCheckItemSchema,
  type StopCheckResult,
  type StopItem,
  type StopKind,
  type StopResult,
  snapshotKeyOf,
} from './model.ts';
import { patiently } from './patience.ts';
import {
  isNotFound,
  orNotFound,
  poolEditRequest,
  readActiveRuns,
  readClusters,
  readJobs,
  readLiveClusters,
  readPipelines,
  readPools,
  readWarehouses,
  runInfo,
} from './read.ts';
import {
  cameBack,
  countRefs,
  decideRuns,
  hasActions,
  isActivePipeline,
  isActiveRun,
  isRunningCluster,
  isUnpaused,
  mergeRefs,
  mergeRestoreSet,
  notInRestoreSet,
  notStopped,
  pausableJob,
  pauseSettings,
  restoreSet,
  type StopActions,
  snapshotCounts,
  stopActions,
} from './rules.ts';
import {
  additionsKeyOf,
  loadAdditions,
  loadRestoreSet,
  loadSnapshot,
  openSnapshotKeyOf,
  pipelineSpecsKeyOf,
} from './snapshot-store.ts';

const MINUTE = 60_000;

/**
 * `stop-compute`: snapshot first (first snapshot wins, so a retry continues from the original), then in the
 * reference's order: refuse on active runs (`fail`), pause UNPAUSED schedules / continuous / triggers, cancel
 * runs (`cancel`, emergencies, continuous jobs) or drain them (`wait`: nothing else is stopped yet), stop
 * pipelines, stop warehouses, terminate clusters, release pool idle instances. Returns only the snapshot key
 * and counts: the snapshot itself can be far larger than the 256 KB state.
 */
export async function stopCompute(item: StopItem, deps: ComputeDeps): Promise<StopResult> {
  const { api, settings } = deps;
  const limit = settings.apiConcurrency;
  const key = snapshotKeyOf(item);
  const { snapshot, state } = await snapshotOnce(item, key, deps);
  await markOpen(deps, item, key);
  const runs = state?.runs ?? (await readActiveRuns(api, continuousJobIds(snapshot)));
  const decision = decideRuns(runs, item.activeRuns, item.emergency);
  if (decision.refuse.length > 0) {
    const ids = decision.refuse.map((r) => ({ kind: 'run' as const, id: String(r.run_id) }));
    throw new ActiveRunsPresent(
      `workspace ${item.workspace.workspaceId} (${item.workspace.deploymentName}) has ${ids.length} active job run(s) and activeRuns is "fail": nothing was paused or stopped. Let them finish, or start again with activeRuns "wait" or "cancel". ${describeRefs(ids)}`,
      { details: { workspaceId: item.workspace.workspaceId, runIds: ids.slice(0, 100).map((r) => r.id) } },
    );
  }

  // A retry (the snapshot is an earlier attempt's) pauses only what is still unpaused: under a tight rate
  // limit, pausing every job again would use up each attempt's time before the first stop.
  const toPause = state ? snapshot.jobs : await stillUnpaused(api, snapshot.jobs);
  await mapLimit(toPause, limit, (job) => orNotFound(() => api.updateJob(job.job_id, pauseSettings(job))));
  await cancelRuns(api, decision.cancel, limit);

  const now = deps.now();
  const result = {
    snapshotKey: key,
    counts: snapshotCounts(snapshot),
    deadline: now + settings.computeStopTimeoutMinutes * MINUTE,
  };
  if (decision.drain.length > 0) {
    // Counted from the snapshot, so a retried stop does not extend the drain.
    const drainDeadline = snapshot.takenAt + item.drainTimeoutMinutes * MINUTE;
    logger.info('compute stop: draining job runs', { snapshotKey: key, runs: decision.drain.length });
    return { ...result, phase: 'draining', drainDeadline };
  }
  const live = state ?? (await readLiveState(api, limit));
  if (!state) await recordCameBack(deps, key, snapshot, live);
  const runsGone = runs.filter(isActiveRun).length === 0;
  // A stop Databricks kept throttling is not a failure: the checks stop whatever still runs.
  const { deferred } = await issueStop(
    api,
    stopActions(live, { runsGone, serverlessWarehouses: true }),
    limit,
    'defer-throttled',
  );
  logger.info('compute stop issued', { snapshotKey: key, counts: result.counts, deferred });
  return { ...result, phase: 'stopping', ...(deferred > 0 ? { deferred } : {}) };
}

/**
 * `check-compute-stopped`, one turn of the Wait → Check → Choice loop, whose STOPPED answer is followed
 * by the PATCH at once. While draining it only watches the runs; once drained it issues the stops (idempotent) and from
 * then on stops again whatever came back (an auto-started warehouse, a cluster a user started), recording it.
 * What came back and the snapshot does not restore is added to the restore additions beside the snapshot
 * (`recordCameBack`), so restore brings it back too. With `guard` (after the PATCH: the post-update and
 * storage waits) it never fails for the stop deadline, tolerates a failing read, and says when the storage
 * wait is over.
 *
 * Fewer calls: a poll of the stopping loop that follows another one (previous status STOPPING) does not
 * list again the kinds that one saw fully stopped (`confirmed`) — until it finds nothing left: a STOPPED
 * answer always rests on a look at every kind made in the same turn, right before the PATCH. The first
 * poll, a poll after a refused PATCH (previous status STOPPED) and every guard turn after the PATCH list
 * every kind too — so compute a user starts during the window is still caught before the PATCH (DESIGN §6.5).
 * Throttling is a speed, not a failure: a turn whose reads Databricks kept throttling decides nothing and
 * says so (`throttled`); the next turn tries again.
 */
export async function checkComputeStopped(
  item: StopCheckItem,
  deps: ComputeDeps,
  options: { guard?: boolean } = {},
): Promise<StopCheckResult> {
  const { settings } = deps;
  const limit = settings.apiConcurrency;
  const guard = options.guard === true;
  // Guarding: one failing read must not keep everything else from being stopped again (errors are logged).
  const tolerant = async <T>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
    if (!guard) return read();
    try {
      return await read();
    } catch (error) {
      logger.warn('guard: a read failed; stopping what can be seen without it', {
        what,
        errorName: (error as Error).name,
      });
      return fallback;
    }
  };
  const previous = item.computeCheck;
  const drained =
    item.compute.phase === 'stopping' || (previous !== undefined && previous.status !== 'DRAINING');
  // Only a poll that follows another poll of the stopping loop may skip kinds; never the guard.
  const skip: ReadonlySet<StopKind> = new Set(
    drained && !guard && previous?.status === 'STOPPING' ? (previous.confirmed ?? []) : [],
  );
  try {
    const result = await checkOnce(item, deps, { guard, tolerant, previous, drained, skip, limit });
    // The PATCH follows a STOPPED answer at once, so that answer rests on a look at every kind made now:
    // when this poll skipped kinds an earlier one confirmed, they are listed again (as a re-check would),
    // and what runs there now counts as started during the window.
    if (guard || result.status !== 'STOPPED' || skip.size === 0) return result;
    return await checkOnce(item, deps, {
      guard,
      tolerant,
      previous: result,
      drained: true,
      skip: new Set(),
      limit,
    });
  } catch (error) {
    if (guard || !(error instanceof DatabricksThrottled)) throw error;
    // Not a failure, and nothing is known: the loop polls again (a re-check never says STOPPED here).
    logger.warn('compute check throttled by Databricks; checked again at the next turn', {
      workspaceId: item.workspace.workspaceId,
      endpoint: error.endpoint,
    });
    const status = !drained ? 'DRAINING' : 'STOPPING';
    const now = deps.now();
    return {
      status,
      activeRuns: previous?.activeRuns ?? 0,
      deadline: extendedStopDeadline(item, previous, settings.computeStopTimeoutMinutes, now),
      remaining: previous?.remaining ?? { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, runs: 0 },
      restartedDuringWindow: previous?.restartedDuringWindow ?? [],
      restartedCount: previous?.restartedCount ?? 0,
      // A throttled re-check confirms nothing: the next poll lists every kind again.
      ...(previous?.status === 'STOPPING' && previous.confirmed ? { confirmed: previous.confirmed } : {}),
      throttled: true,
      checkedAt: now,
    };
  }
}

type Tolerant = <T>(what: string, read: () => Promise<T>, fallback: T) => Promise<T>;

/**
 * The stop deadline after a turn Databricks throttled: later by the time since the previous turn (time
 * that went to waiting out 429s, not to stopping), never past `LIMITS.computeStopTimeoutMinutes` after the
 * stop began — what the execution's history is sized for (DESIGN §6.10).
 */
function extendedStopDeadline(
  item: StopCheckItem,
  previous: StopCheckResult | undefined,
  timeoutMinutes: number,
  now: number,
): number {
  const deadline = previous?.deadline ?? item.compute.deadline;
  const cap =
    item.compute.deadline +
    (Math.max(timeoutMinutes, LIMITS.computeStopTimeoutMinutes) - timeoutMinutes) * MINUTE;
  const lost = Math.max(0, now - (previous?.checkedAt ?? now));
  return Math.max(deadline, Math.min(cap, deadline + lost));
}

async function checkOnce(
  item: StopCheckItem,
  deps: ComputeDeps,
  context: {
    guard: boolean;
    tolerant: Tolerant;
    previous: StopCheckResult | undefined;
    drained: boolean;
    skip: ReadonlySet<StopKind>;
    limit: number;
  },
): Promise<StopCheckResult> {
  const { api, settings } = deps;
  const { guard, tolerant, previous, drained, skip, limit } = context;
  const stored = await tolerant(
    'snapshot',
    () => loadSnapshot(deps.store, item.compute.snapshotKey, item.workspace.workspaceId, item.executionId),
    undefined,
  );
  const snapshot = stored ?? emptySnapshot(item);
  const runs = skip.has('runs')
    ? []
    : await tolerant('runs', () => readActiveRuns(api, continuousJobIds(snapshot)), []);
  const now = deps.now();
  const where = `workspace ${item.workspace.workspaceId} (${item.workspace.deploymentName})`;

  if (!drained) {
    const decision = decideRuns(runs, item.activeRuns, item.emergency);
    await cancelRuns(api, decision.cancel, limit);
    if (decision.drain.length > 0) {
      const ids = decision.drain.map((r) => ({ kind: 'run' as const, id: String(r.run_id) }));
      if (now >= (item.compute.drainDeadline ?? 0)) {
        throw new DrainTimeout(
          `${where}: ${ids.length} job run(s) still active after the ${item.drainTimeoutMinutes}-minute drain; no compute was stopped, only schedules were paused (the compensation path unpauses them). Retry later, or with activeRuns "cancel". ${describeRefs(ids)}`,
          {
            details: { workspaceId: item.workspace.workspaceId, runIds: ids.slice(0, 100).map((r) => r.id) },
          },
        );
      }
      return {
        status: 'DRAINING',
        activeRuns: ids.length,
        deadline: item.compute.deadline,
        remaining: countRefs(ids),
        restartedDuringWindow: [],
        restartedCount: 0,
        checkedAt: now,
      };
    }
    // Drained: this is where the stop really starts, so the stop deadline starts here too.
    const live = await readLiveState(api, limit);
    await recordCameBack(deps, item.compute.snapshotKey, snapshot, live);
    await issueStop(
      api,
      stopActions(live, { runsGone: runs.length === 0, serverlessWarehouses: true }),
      limit,
    );
    return {
      status: 'STOPPING',
      activeRuns: runs.length,
      deadline: now + settings.computeStopTimeoutMinutes * MINUTE,
      remaining: countRefs(notStopped({ ...live, runs })),
      restartedDuringWindow: [],
      restartedCount: 0,
      checkedAt: now,
    };
  }

  // A run already being cancelled needs no second cancel; any other active run is cancelled (one that
  // started during the window, or a continuous job's).
  const toCancel = runs.filter((r) => isActiveRun(r) && r.life_cycle_state !== 'TERMINATING');
  await tolerant('cancel', () => cancelRuns(api, toCancel, limit), undefined);
  const { live, unreadable } = guard
    ? await readLiveStateTolerant(api, tolerant)
    : { live: await readLiveState(api, limit, skip), unreadable: [] };
  const state: ComputeState = { ...live, runs };
  const actions = stopActions(live, { runsGone: runs.length === 0, serverlessWarehouses: false });
  // After a turn whose stops Databricks throttled (stop-compute's, or a check's), what is still running
  // was never stopped: it is stopped now, not counted as "back".
  const stopsDeferred =
    previous === undefined ? (item.compute.deferred ?? 0) > 0 : previous.throttled === true;
  const restarted = stopsDeferred
    ? []
    : cameBack(actions, state, toCancel, snapshot, {
        allSeenStopped: guard || previous?.status === 'STOPPED',
      });
  // Patiently while guarding: a lost write would lose what came back, from the restore set and the report.
  const added = stored
    ? await tolerant(
        'restore additions',
        () =>
          guard
            ? patiently(() => recordCameBack(deps, item.compute.snapshotKey, snapshot, live, restarted))
            : recordCameBack(deps, item.compute.snapshotKey, snapshot, live, restarted),
        [],
      )
    : [];
  const back = mergeRefs(
    previous?.restartedDuringWindow ?? [],
    previous?.restartedCount ?? 0,
    [...added, ...restarted].map((r) => ({ ...r, seenAt: now })),
  );
  const { deferred, failed: stopsFailed } = await issueStop(
    api,
    actions,
    limit,
    guard ? 'tolerate' : 'defer-throttled',
  );
  // A list that cannot be read while guarding hides what a user may have started: stop again, blindly, what
  // is known to have run (terminating a terminated cluster, stopping a stopped warehouse or pipeline is a
  // no-op). Best effort, and it does not count as "still stopping".
  if (unreadable.length > 0) {
    const blind = blindStops(snapshot, previous, unreadable);
    await issueStop(api, blind, limit, 'tolerate');
    // Recorded once each, marked UNSEEN, so the rotation's result names what was stopped without being seen.
    if (stored) {
      const unseen: ResourceRef[] = [
        ...blind.clusters.map((id) => ({ kind: 'cluster' as const, id })),
        ...blind.warehouses.map((id) => ({ kind: 'warehouse' as const, id })),
        ...blind.pipelines.map((id) => ({ kind: 'pipeline' as const, id })),
      ];
      await tolerant(
        'restore additions',
        () => recordCameBack(deps, item.compute.snapshotKey, snapshot, live, unseen, { unseen: true }),
        [],
      );
    }
  }
  const remaining = notStopped(state);
  // Back from a PATCH Databricks refused because compute ran: stopping starts again, so does its deadline.
  const update = (item as { update?: { refused?: unknown; patchedAt?: number } }).update;
  const restartedAt = update?.refused !== undefined ? update.patchedAt : undefined;
  const deadline = Math.max(
    deferred > 0
      ? extendedStopDeadline(item, previous, settings.computeStopTimeoutMinutes, now)
      : (previous?.deadline ?? item.compute.deadline),
    restartedAt === undefined ? 0 : restartedAt + settings.computeStopTimeoutMinutes * MINUTE,
  );
  const confirmed = confirmedKinds(remaining, actions, toCancel, unreadable);
  const result = {
    activeRuns: runs.length,
    deadline,
    remaining: countRefs(remaining),
    restartedDuringWindow: back.refs,
    restartedCount: back.count,
    confirmed,
    checkedAt: now,
    ...(deferred > 0 ? { throttled: true } : {}),
  };
  const quiet = remaining.length === 0 && !hasActions(actions) && toCancel.length === 0;
  if (guard) {
    // Guarding the storage wait: never fails for the stop deadline (the key has changed); says when it is over.
    const from = storageWaitBegan(item) ?? now;
    const until = from + item.storageWaitSeconds * 1000;
    // Once the wait has begun (the key took effect), recorded where a later execution looks (once).
    const begun = storageWaitBegan(item) !== undefined;
    if (begun && item.workspace.storageAdded && previous?.storageWaitUntil !== until) {
      await tolerant('open snapshot pointer', () => noteStorageWaitUntil(deps, item, until), undefined);
    }
    if (back.count > (previous?.restartedCount ?? 0)) {
      logger.warn('compute started during the storage wait and was stopped again', {
        workspaceId: item.workspace.workspaceId,
        restarted: back.refs,
      });
    }
    // What runs and could not be stopped this turn: tried again each turn, named by the caller when the
    // window ends (check-compute-stopped, check-workspace).
    const unstoppable = stillRunningOf(stopsFailed, remaining);
    return {
      status: quiet ? 'STOPPED' : 'STOPPING',
      ...result,
      ...(unstoppable.length > 0 ? { unstoppable: describeRefs(unstoppable, UNSTOPPABLE_CHARS) } : {}),
      storageWaitUntil: until,
      storageWaitOver: now >= until,
    };
  }
  if (quiet) return { status: 'STOPPED', ...result };
  if (now > deadline) {
    throw new ComputeDidNotStop(
      `${where}: compute still running at the stop deadline, so the workspace was not updated (the compensation path restores what ran). ${describeRefs(remaining)}`,
      { details: { workspaceId: item.workspace.workspaceId, remaining: countRefs(remaining) } },
    );
  }
  if (back.count > (previous?.restartedCount ?? 0)) {
    logger.warn('compute came back during the window and was stopped again', {
      workspaceId: item.workspace.workspaceId,
      restarted: back.refs,
    });
  }
  return { status: 'STOPPING', ...result };
}

/**
 * When the storage wait began (the guard counts from now when nothing says): at the earliest sign that the
 * storage key took effect. That is when the main path first saw the workspace RUNNING with the new key ids
 * (`workspaceCheck.runningAt`; the recovery guard after a failure late in the storage wait only waits what
 * is left of it, so the wait is not waited twice past the execution's history quota); else when recovery saw
 * the workspace settle with the storage key applied (`settled.settledAt`: a failure while the workspace was
 * still PROVISIONING, which the main path never saw RUNNING, waits the full storage wait from there).
 */
function storageWaitBegan(item: StopCheckItem): number | undefined {
  const running = item.workspaceCheck?.status === 'RUNNING' ? item.workspaceCheck.runningAt : undefined;
  return running ?? item.settled?.settledAt;
}

/**
 * The kinds in which nothing is left and nothing was stopped again this turn (a kind whose list could not
 * be read is never confirmed). A kind skipped this turn reads as empty, so it stays confirmed.
 */
function confirmedKinds(
  remaining: readonly ResourceRef[],
  actions: StopActions,
  toCancel: readonly RunInfo[],
  unreadable: readonly Listed[],
): StopKind[] {
  const left = new Set(remaining.map((r) => r.kind));
  const out: StopKind[] = [];
  if (!left.has('cluster') && actions.clusters.length === 0 && !unreadable.includes('clusters'))
    out.push('clusters');
  if (!left.has('pool') && actions.pools.length === 0) out.push('pools');
  if (!left.has('warehouse') && actions.warehouses.length === 0 && !unreadable.includes('warehouses'))
    out.push('warehouses');
  if (!left.has('pipeline') && actions.pipelines.length === 0 && !unreadable.includes('pipelines'))
    out.push('pipelines');
  if (!left.has('run') && toCancel.length === 0) out.push('runs');
  return out;
}

/** The stored snapshot, or a new one (returned with the state it was taken from, so it need not be read twice). */
async function snapshotOnce(
  item: StopItem,
  key: string,
  deps: ComputeDeps,
): Promise<{ snapshot: ComputeSnapshot; state: ComputeState | undefined }> {
  const stored = await deps.store.get(key);
  if (stored) return { snapshot: stored, state: undefined };
  const { snapshot, state } = await takeSnapshot(item, key, deps);
  const { created } = await deps.store.putIfAbsent(key, snapshot);
  if (created) return { snapshot, state };
  // A concurrent attempt won: continue from its snapshot (the first one is the truth about what ran).
  return {
    snapshot: await loadSnapshot(deps.store, key, item.workspace.workspaceId, item.executionId),
    state: undefined,
  };
}

/**
 * Everything quiesce and restore need, read before anything is touched. Under a tight rate limit the
 * reads (one per active pipeline) can outlast the invocation; the pipelines read so far are then kept
 * beside the snapshot-to-be (`pipelineSpecsKeyOf`, left to expire with it), so the step's retry goes on
 * from there instead of starting over and running out of time again: throttling makes a large workspace
 * slower, not failed.
 */
async function takeSnapshot(
  item: StopItem,
  key: string,
  deps: ComputeDeps,
): Promise<{ snapshot: ComputeSnapshot; state: ComputeState }> {
  const { api, settings } = deps;
  const limit = settings.apiConcurrency;
  const specs = await readPipelineSpecs(deps, key);
  const known = specs.size;
  const readAll = () =>
    Promise.all([
      readClusters(api),
      readPools(api),
      readWarehouses(api),
      readJobs(api),
      api.listRuns({ activeOnly: true }),
      readPipelines(api, { withSpec: true, concurrency: limit, specs }),
    ]);
  let reads: Awaited<ReturnType<typeof readAll>>;
  try {
    reads = await readAll();
  } catch (error) {
    if (specs.size > known) await keepPipelineSpecs(deps, key, specs);
    throw error;
  }
  const [clusters, pools, warehouses, jobs, rawRuns, pipelines] = reads;
  const pausable = jobs.flatMap((j) => pausableJob(j) ?? []);
  const continuous = new Set(pausable.filter((j) => isUnpaused(j.continuous)).map((j) => j.job_id));
  const runs = rawRuns.map((r) => runInfo(r, continuous));
  const fresh: ComputeSnapshot = {
    version: 1,
    executionId: item.executionId,
    workspaceId: item.workspace.workspaceId,
    deploymentName: item.workspace.deploymentName,
    takenAt: deps.now(),
    clusters,
    pools,
    warehouses,
    jobs: pausable,
    runs,
    pipelines,
  };
  const allJobs = jobs.map((j) => j.job_id);
  const snapshot = await inheritOpenSnapshot(item, deps, fresh, allJobs);
  return { snapshot, state: { clusters, pools, warehouses, runs, pipelines } };
}

const PipelineSpecsSchema = z.array(PipelineInfoSchema);

/** The pipelines an earlier attempt read for this snapshot; none when there are none or they do not parse. */
async function readPipelineSpecs(deps: ComputeDeps, key: string): Promise<Map<string, PipelineInfo>> {
  const parsed = PipelineSpecsSchema.safeParse(await deps.store.getDocument(pipelineSpecsKeyOf(key)));
  return new Map(parsed.success ? parsed.data.map((p) => [p.pipeline_id, p]) : []);
}

/** Best effort: a failed write costs the next attempt the reads again, and must not hide the step's error. */
async function keepPipelineSpecs(
  deps: ComputeDeps,
  key: string,
  specs: Map<string, PipelineInfo>,
): Promise<void> {
  try {
    await deps.store.putDocument(pipelineSpecsKeyOf(key), [...specs.values()]);
    logger.info('snapshot reads kept for the retry', { pipelinesRead: specs.size });
  } catch (error) {
    logger.warn('could not keep the snapshot reads for the retry', { error: String(error) });
  }
}

/**
 * A workspace whose compute an earlier execution stopped and never restored (it failed, was aborted, or
 * timed out) must not be snapshotted as "nothing runs": the earlier snapshot's restore set (and its
 * additions) is merged into the fresh one and named in `inherited` (DESIGN §6.4: a failed rotation is
 * retried by a new execution). Only what a direct read says no longer exists is left out (`stillExisting`):
 * a short list answer never shrinks what gets restored.
 */
async function inheritOpenSnapshot(
  item: StopItem,
  deps: ComputeDeps,
  fresh: ComputeSnapshot,
  allJobIds: readonly number[],
): Promise<ComputeSnapshot> {
  const pointer = (await deps.store.getDocument(openSnapshotKeyOf(item.workspace.workspaceId))) as
    | { snapshotKey?: unknown; executionId?: unknown }
    | undefined;
  const earlierKey = typeof pointer?.snapshotKey === 'string' ? pointer.snapshotKey : undefined;
  if (!earlierKey || earlierKey === snapshotKeyOf(item)) return fresh;
  const whole = await loadRestoreSet(deps.store, earlierKey, {
    workspaceId: item.workspace.workspaceId,
    ...(typeof pointer?.executionId === 'string' ? { executionId: pointer.executionId } : {}),
  });
  if (!whole) {
    logger.warn('open snapshot pointer names a snapshot that no longer exists; ignored', {
      snapshotKey: earlierKey,
    });
    return fresh;
  }
  const { api } = deps;
  const earlier = restoreSet(whole);
  const ids = <T>(items: readonly T[], idOf: (x: T) => string) => new Set(items.map(idOf));
  const check = <T>(
    kind: ResourceRef['kind'] | 'job',
    inherited: readonly T[],
    listed: Set<string>,
    idOf: (x: T) => string,
    get: (id: string) => Promise<unknown>,
  ) => stillExisting(deps, { kind, inherited, listed, idOf, get });
  const [clusters, warehouses, pipelines, pools, jobs] = await Promise.all([
    check(
      'cluster',
      earlier.clusters,
      ids(fresh.clusters, (c) => c.cluster_id),
      (c) => c.cluster_id,
      (id) => api.getCluster(id),
    ),
    check(
      'warehouse',
      earlier.warehouses,
      ids(fresh.warehouses, (w) => w.id),
      (w) => w.id,
      (id) => api.getWarehouse(id),
    ),
    check(
      'pipeline',
      earlier.pipelines,
      ids(fresh.pipelines, (p) => p.pipeline_id),
      (p) => p.pipeline_id,
      (id) => api.getPipeline(id),
    ),
    check(
      'pool',
      earlier.pools,
      ids(fresh.pools, (p) => p.instance_pool_id),
      (p) => p.instance_pool_id,
      (id) => api.getInstancePool(id),
    ),
    check(
      'job',
      earlier.jobs,
      ids(allJobIds, String),
      (j) => String(j.job_id),
      (id) => api.getJob(Number(id)),
    ),
  ]);
  const merged = mergeRestoreSet(fresh, { clusters, warehouses, pipelines, pools, jobs });
  logger.warn('an earlier execution left this workspace stopped: its restore set is honoured', {
    workspaceId: item.workspace.workspaceId,
    earlierSnapshot: earlierKey,
  });
  return { ...merged, inherited: [...(whole.inherited ?? []), earlierKey] };
}

/**
 * The inherited entries whose resource still exists. One the fresh list shows is kept; one it does not show
 * is read directly, and dropped only when that read says it no longer exists (404 / RESOURCE_DOES_NOT_EXIST):
 * a list answer can be short (a page missed, a lagging replica), and a single short answer must never shrink
 * what gets restored (issue 14 §5). A read that fails any other way keeps the entry as well: restore names
 * what turns out to be gone, while a dropped entry would never be restored at all.
 */
async function stillExisting<T>(
  deps: ComputeDeps,
  x: {
    kind: string;
    inherited: readonly T[];
    listed: ReadonlySet<string>;
    idOf: (item: T) => string;
    get: (id: string) => Promise<unknown>;
  },
): Promise<T[]> {
  const kept = await mapLimit(x.inherited, deps.settings.apiConcurrency, async (item) => {
    const id = x.idOf(item);
    if (x.listed.has(id)) return true;
    try {
      await x.get(id);
      logger.warn('an inherited resource the list did not show still exists: kept in the restore set', {
        kind: x.kind,
        id,
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      logger.warn('an inherited resource the list did not show could not be read: kept in the restore set', {
        kind: x.kind,
        id,
        errorName: (error as Error).name,
      });
      return true;
    }
  });
  return x.inherited.filter((_, i) => kept[i]);
}

/** Records that this workspace's compute is stopped under `key` (see `inheritOpenSnapshot`). */
async function markOpen(deps: ComputeDeps, item: StopItem, key: string): Promise<void> {
  const pointerKey = openSnapshotKeyOf(item.workspace.workspaceId);
  const pointer = (await deps.store.getDocument(pointerKey)) as { snapshotKey?: unknown } | undefined;
  if (pointer?.snapshotKey === key) return;
  await deps.store.putDocument(pointerKey, {
    snapshotKey: key,
    executionId: item.executionId,
    workspaceId: item.workspace.workspaceId,
    since: deps.now(),
    // A later execution that finds this pointer on a workspace already on the new key must not restart
    // compute before the storage wait is over (DESIGN §6.5): it needs to know whether a storage key is being
    // added, and (noteStorageWaitUntil) when that wait ends.
    storageAdded: item.workspace.storageAdded,
  });
}

/**
 * Records in the open pointer when the storage wait ends: an execution aborted during the wait leaves it
 * there, and the next one restores no earlier (lib/plan `restoreOnly`). Only on the pointer this execution
 * wrote (or inherited) for this snapshot.
 */
async function noteStorageWaitUntil(deps: ComputeDeps, item: StopCheckItem, until: number): Promise<void> {
  const pointerKey = openSnapshotKeyOf(item.workspace.workspaceId);
  const pointer = (await deps.store.getDocument(pointerKey)) as Record<string, unknown> | undefined;
  if (pointer?.snapshotKey !== item.compute.snapshotKey) return;
  await deps.store.putDocument(pointerKey, { ...pointer, storageWaitUntil: until });
}

/**
 * Compute found running that the restore set does not hold (a user started it, a list answer missed it):
 * added to the restore additions beside the snapshot, so restore brings it back too, and returned as refs
 * for the step's report. Pipelines are restored only when continuous (their spec is read for that).
 */
export async function recordCameBack(
  deps: ComputeDeps,
  snapshotKey: string,
  snapshot: ComputeSnapshot,
  live: Omit<ComputeState, 'runs'>,
  restarted: readonly ResourceRef[] = [],
  options: { unseen?: boolean } = {},
): Promise<ResourceRef[]> {
  const additions = await loadAdditions(deps.store, snapshotKey, {
    workspaceId: snapshot.workspaceId,
    executionId: snapshot.executionId,
  });
  const restoring = additions ? mergeRestoreSet(snapshot, additions) : snapshot;
  const found = notInRestoreSet(restoring, live);
  const refs: ResourceRef[] = [
    ...found.clusters.map((c) => ({ kind: 'cluster' as const, id: c.cluster_id })),
    ...found.warehouses.map((w) => ({ kind: 'warehouse' as const, id: w.id })),
    ...found.pipelines.map((p) => ({ kind: 'pipeline' as const, id: p.pipeline_id })),
    ...found.pools.map((p) => ({ kind: 'pool' as const, id: p.instance_pool_id })),
  ];
  // Compute of the restore set that was started again (and is stopped again now) is reported too, once.
  const logged = new Set((additions?.events ?? []).map((e) => `${e.kind}:${e.id}`));
  const newRefs = new Set(refs.map((r) => `${r.kind}:${r.id}`));
  const seenAgain = restarted.filter(
    (r) => r.kind !== 'run' && !newRefs.has(`${r.kind}:${r.id}`) && !logged.has(`${r.kind}:${r.id}`),
  );
  if (refs.length === 0 && seenAgain.length === 0) return [];
  const pipelines = await mapLimit(found.pipelines, deps.settings.apiConcurrency, async (p) => {
    const full = await orNotFound(() => deps.api.getPipeline(p.pipeline_id));
    return { ...p, continuous: full?.spec?.continuous === true };
  });
  const now = deps.now();
  const states = new Map<string, string>([
    ...live.clusters.map((c) => [`cluster:${c.cluster_id}`, c.state] as const),
    ...live.warehouses.map((w) => [`warehouse:${w.id}`, w.state] as const),
    ...live.pipelines.map((p) => [`pipeline:${p.pipeline_id}`, p.state] as const),
  ]);
  const before: RestoreAdditions = additions ?? {
    version: 1,
    clusters: [],
    warehouses: [],
    pipelines: [],
    pools: [],
    events: [],
    count: 0,
  };
  const next: RestoreAdditions = {
    ...before,
    clusters: [...before.clusters, ...found.clusters],
    warehouses: [...before.warehouses, ...found.warehouses],
    pipelines: [...before.pipelines, ...pipelines.filter((p) => p.continuous)],
    pools: [...before.pools, ...found.pools],
    events: [
      ...before.events,
      ...[...refs, ...seenAgain].map((r) => ({
        kind: r.kind,
        id: r.id,
        seenAt: now,
        state:
          states.get(`${r.kind}:${r.id}`) ??
          (options.unseen ? 'UNSEEN: stopped again while its list could not be read' : undefined),
      })),
    ].slice(0, 4 * MAX_EVENTS),
    count: before.count + refs.length + seenAgain.length,
  };
  await deps.store.putDocument(additionsKeyOf(snapshotKey), next);
  logger.warn('compute came back during the window: stopped again, and restored with the rest', {
    snapshotKey,
    added: refs.slice(0, MAX_EVENTS),
    startedAgain: seenAgain.slice(0, MAX_EVENTS),
  });
  return refs;
}

const MAX_EVENTS = 50;

/** Jobs whose runs never end by themselves (continuous, UNPAUSED at snapshot time). */
function continuousJobIds(snapshot: ComputeSnapshot): Set<number> {
  return new Set(snapshot.jobs.filter((j) => isUnpaused(j.continuous)).map((j) => j.job_id));
}

/** The live state kind by kind, a kind whose list fails read as empty (guarding only). */
type Listed = 'clusters' | 'warehouses' | 'pipelines';

async function readLiveStateTolerant(
  api: WorkspaceApi,
  tolerant: <T>(what: string, read: () => Promise<T>, fallback: T) => Promise<T>,
): Promise<{ live: Omit<ComputeState, 'runs'>; unreadable: Listed[] }> {
  const unreadable: Listed[] = [];
  const UNREAD = null;
  const [clusters, pools, warehouses, pipelines] = await Promise.all([
    tolerant('clusters', () => readLiveClusters(api), UNREAD),
    tolerant('pools', () => readPools(api), []),
    tolerant('warehouses', () => readWarehouses(api), UNREAD),
    tolerant('pipelines', () => readPipelines(api, { withSpec: false, concurrency: 1 }), UNREAD),
  ]);
  if (clusters === UNREAD) unreadable.push('clusters');
  if (warehouses === UNREAD) unreadable.push('warehouses');
  if (pipelines === UNREAD) unreadable.push('pipelines');
  return {
    live: { clusters: clusters ?? [], pools, warehouses: warehouses ?? [], pipelines: pipelines ?? [] },
    unreadable,
  };
}

/**
 * What to stop again without seeing it, for the kinds whose list could not be read: every cluster (of any
 * source), warehouse and pipeline the snapshot saw running, and whatever was seen coming back earlier in the
 * window.
 */
function blindStops(
  snapshot: ComputeSnapshot,
  previous: StopCheckResult | undefined,
  unreadable: readonly Listed[],
): StopActions {
  const back = (kind: ResourceRef['kind']) =>
    (previous?.restartedDuringWindow ?? []).filter((r) => r.kind === kind).map((r) => r.id);
  const set = restoreSet(snapshot);
  const ids = (kind: Listed, known: string[], refKind: ResourceRef['kind']) =>
    unreadable.includes(kind) ? [...new Set([...known, ...back(refKind)])] : [];
  return {
    // Every cluster the snapshot saw running, job clusters too: any of them can be started again unseen.
    clusters: ids(
      'clusters',
      snapshot.clusters.filter(isRunningCluster).map((c) => c.cluster_id),
      'cluster',
    ),
    warehouses: ids(
      'warehouses',
      set.warehouses.map((w) => w.id),
      'warehouse',
    ),
    pipelines: ids(
      'pipelines',
      snapshot.pipelines.filter(isActivePipeline).map((p) => p.pipeline_id),
      'pipeline',
    ),
    pools: [],
  };
}

/** A stand-in when the snapshot cannot be read while guarding: nothing is known to have run. */
function emptySnapshot(item: StopCheckItem): ComputeSnapshot {
  return {
    version: 1,
    executionId: item.executionId,
    workspaceId: item.workspace.workspaceId,
    deploymentName: item.workspace.deploymentName,
    takenAt: 0,
    clusters: [],
    pools: [],
    warehouses: [],
    jobs: [],
    runs: [],
    pipelines: [],
  };
}

/** The live state, every kind but those in `skip` (read as empty: a previous poll saw them stopped). */
async function readLiveState(
  api: WorkspaceApi,
  limit: number,
  skip: ReadonlySet<StopKind> = new Set(),
): Promise<Omit<ComputeState, 'runs'>> {
  const [clusters, pools, warehouses, pipelines] = await Promise.all([
    skip.has('clusters') ? [] : readLiveClusters(api),
    skip.has('pools') ? [] : readPools(api),
    skip.has('warehouses') ? [] : readWarehouses(api),
    skip.has('pipelines') ? [] : readPipelines(api, { withSpec: false, concurrency: limit }),
  ]);
  return { clusters, pools, warehouses, pipelines };
}

/**
 * The snapshot's jobs that the job list still shows with something unpaused (one list call per 100 jobs
 * instead of one update per job). A job the list does not show is kept: a short answer must not leave a
 * schedule running (pausing a deleted job is a no-op).
 */
async function stillUnpaused(api: WorkspaceApi, jobs: readonly PausableJob[]): Promise<PausableJob[]> {
  if (jobs.length === 0) return [];
  const current = new Map((await readJobs(api)).map((j) => [j.job_id, j]));
  return jobs.filter((j) => {
    const now = current.get(j.job_id);
    return now === undefined || pausableJob(now) !== undefined;
  });
}

async function cancelRuns(api: WorkspaceApi, runs: readonly RunInfo[], limit: number): Promise<void> {
  const pending = runs.filter((r) => r.life_cycle_state !== 'TERMINATING');
  await mapLimit(pending, limit, (r) => orNotFound(() => api.cancelRun(r.run_id)));
}

/**
 * Issues the stop calls, group by group in the reference's order (pipelines, warehouses, clusters, pools),
 * each group in parallel up to `limit`. Every call is idempotent; a resource deleted meanwhile is skipped.
 * `throw`: the first error fails the step. `tolerate` (guarding): every stop is tried even when another
 * fails (the next guard turn tries the failed ones again). `defer-throttled` (stop-compute, the stopping
 * loop): a stop that Databricks kept throttling, and every stop of its group after it, is left to the next
 * check — which stops whatever still runs — and counted in `deferred` (the next group is still tried);
 * any other error fails the step.
 */
async function issueStop(
  api: WorkspaceApi,
  actions: StopActions,
  limit: number,
  mode: 'throw' | 'tolerate' | 'defer-throttled' = 'throw',
): Promise<{ deferred: number; failed: Array<ResourceRef & { why: string }> }> {
  let deferred = 0;
  const failed: Array<ResourceRef & { why: string }> = [];
  const each = async <T>(
    items: readonly T[],
    fn: (item: T) => Promise<unknown>,
    refOf?: (item: T) => ResourceRef,
  ): Promise<void> => {
    if (mode === 'throw') {
      await mapLimit(items, limit, fn);
      return;
    }
    if (mode === 'tolerate') {
      // Tried again by the next guard turn; what still fails is named when the window ends.
      const results = await settleLimit(items, limit, fn);
      results.forEach((r, i) => {
        const item = items[i] as T;
        if (!r.ok && refOf) failed.push({ ...refOf(item), why: errorWhy(r.error) });
      });
      return;
    }
    const results = await settleLimit(items, limit, fn, {
      stopAfter: (error) => error instanceof DatabricksThrottled,
    });
    for (const r of results) {
      if (r.ok) continue;
      if (r.skipped || isDeferred(r.error)) deferred++;
      else throw r.error;
    }
  };
  await each(
    actions.pipelines,
    (id) => orNotFound(() => api.stopPipeline(id)),
    (id) => ({ kind: 'pipeline', id }),
  );
  await each(
    actions.warehouses,
    (id) => orNotFound(() => api.stopWarehouse(id)),
    (id) => ({ kind: 'warehouse', id }),
  );
  await each(
    actions.clusters,
    (id) => orNotFound(() => api.terminateCluster(id)),
    (id) => ({ kind: 'cluster', id }),
  );
  await each(
    actions.pools,
    (p) =>
      // 0 and 0: no idle instance is kept, and an idle one is released at once (reference §4).
      orNotFound(() =>
        api.editInstancePool(
          poolEditRequest(p, { min_idle_instances: 0, idle_instance_autotermination_minutes: 0 }),
        ),
      ),
    (p) => ({ kind: 'pool', id: p.instance_pool_id }),
  );
  return { deferred, failed };
}

/** An error's name and the start of its message, as the reason a stop failed. */
function errorWhy(error: unknown): string {
  const e = error instanceof Error ? error : new Error(String(error));
  return `stop failed: ${e.name}: ${e.message}`.slice(0, 160);
}

/** Characters of the text naming what could not be stopped (a guard's result, the error). */
const UNSTOPPABLE_CHARS = 1_500;

/** The stops that failed for what still runs (`remaining`). */
function stillRunningOf(
  failed: ReadonlyArray<ResourceRef & { why: string }>,
  remaining: readonly ResourceRef[],
): Array<ResourceRef & { why: string }> {
  const running = new Set(remaining.map((r) => `${r.kind}:${r.id}`));
  return failed.filter((f) => running.has(`${f.kind}:${f.id}`));
}

/**
 * The named failure of a window during which compute someone started could not be stopped again; `what`
 * is the guard's text (`StopCheckResult.unstoppable`).
 */
export function notKeptStopped(
  workspace: { workspaceId: number; deploymentName: string },
  window: string,
  what: string,
): ComputeNotKeptStopped {
  const where = `workspace ${workspace.workspaceId} (${workspace.deploymentName})`;
  return new ComputeNotKeptStopped(
    `${where}: compute someone started during ${window} could not be stopped again: ${what}. It ran while it had to stay stopped, so check it for failures; the key change took effect and compute is restored as usual.`,
  );
}

/**
 * While the workspace updates (after the PATCH, or while recovery waits for it to settle), keeps compute
 * stopped: one guard turn of `checkComputeStopped`, best effort — a workspace API that does not answer
 * during the update must not fail the poll, so errors are reported, not thrown. `item` is the state
 * machine's item; without a stop result (nothing was stopped) there is nothing to guard.
 */
export async function keepComputeStopped(
  item: unknown,
  deps: ComputeDeps,
): Promise<{ stillRunning: number; cameBack: number; unstoppable?: string; error?: string }> {
  const parsed = StopCheckItemSchema.safeParse(item);
  if (!parsed.success) return { stillRunning: 0, cameBack: 0 };
  try {
    const check = await checkComputeStopped(
      { ...parsed.data, workspaceCheck: undefined, settled: undefined },
      deps,
      { guard: true },
    );
    const stillRunning = Object.values(check.remaining).reduce((a: number, b) => a + (b ?? 0), 0);
    const { unstoppable } = check;
    return { stillRunning, cameBack: check.restartedCount, ...(unstoppable ? { unstoppable } : {}) };
  } catch (error) {
    const e = error as Error;
    logger.warn('could not check compute while the workspace updates', { errorName: e.name });
    return { stillRunning: 0, cameBack: 0, error: `${e.name}: ${e.message}`.slice(0, 300) };
  }
}
