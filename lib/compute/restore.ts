import { mapLimit, settleLimit } from '../concurrency.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { DatabricksApiError, DatabricksThrottled, isDeferred } from '../databricks/errors.ts';
import type { ClusterDetails, ClusterState } from '../databricks/types.ts';
import { logger } from '../log.ts';
import { LIMITS } from '../settings.ts';
import type { ComputeDeps } from './deps.ts';
import { ComputeNotRestored, describeRefs, describeStillStopped } from './errors.ts';
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
import { isTransient, patiently } from './patience.ts';
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
  RESTORE_KINDS,
  type RestoreAction,
  type RestoreAssessment,
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
  openPointerOf,
  openSnapshotKeyOf,
  type SnapshotOwner,
  type SnapshotStore,
} from './snapshot-store.ts';

const MINUTE = 60_000;
const NONE: RestoreCounts = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, jobs: 0 };
const NO_CAME_BACK = { count: 0, events: [] };
/** A failed start is tried again after 20 s, doubling to at most 5 minutes, until the restore deadline. */
const RETRY_FIRST_MS = 20_000;
const RETRY_MAX_MS = 5 * MINUTE;
/**
 * The report step reads the snapshot up to 6 times, 2 s apart doubling (about a minute in all), while its
 * invocation has time left for that and 10 s more: an S3 burst of SlowDown answers outlasts the Task's own
 * retries, and "what was stopped is unknown" is the last thing an operator should read.
 */

/** Whose snapshot a restore may read: this workspace's, taken by this execution or by `executionId`. */
function ownerOf(
  item: { executionId: string; workspace: { workspaceId: number } },
  executionId: string = item.executionId,
): Required<SnapshotOwner> {
  return { workspaceId: item.workspace.workspaceId, executionId };
}

/** The restore set a restore works from: under `key`, taken by `executionId`. */
interface RestoreSource {
  key: string;
  snapshot: ComputeSnapshot;
  executionId: string;
}

/**
 * What this execution restores: its own snapshot (`ownKey`), or — when it took none, having failed before
 * its stop — the snapshot an earlier execution left open for this workspace (`openPointerOf`): that one
 * failed without bringing its compute back, and "restored" must not be said while it is still down
 * (DESIGN §6.4). Found through this workspace's pointer, the earlier execution's snapshot is this
 * workspace's to restore; any other snapshot of another execution is still `SnapshotMismatch`.
 * `undefined`: nothing is stopped under any snapshot.
 */
async function findRestoreSet(
  item: { executionId: string; workspace: { workspaceId: number } },
  ownKey: string,
  store: SnapshotStore,
): Promise<RestoreSource | undefined> {
  const own = await loadRestoreSet(store, ownKey, ownerOf(item));
  if (own) return { key: ownKey, snapshot: own, executionId: item.executionId };
  const open = await openPointerOf(item.workspace.workspaceId, store);
  if (!open || open.snapshotKey === ownKey) return undefined;
  const owner: SnapshotOwner = {
    workspaceId: item.workspace.workspaceId,
    ...(open.executionId === undefined ? {} : { executionId: open.executionId }),
  };
  const earlier = await loadRestoreSet(store, open.snapshotKey, owner);
  if (!earlier) {
    logger.warn('open snapshot pointer names a snapshot that no longer exists; nothing to restore', {
      snapshotKey: open.snapshotKey,
    });
    return undefined;
  }
  logger.warn('this execution stopped nothing, but an earlier one left the compute stopped: restoring it', {
    workspaceId: item.workspace.workspaceId,
    earlierSnapshot: open.snapshotKey,
    earlierExecution: earlier.executionId,
  });
  return { key: open.snapshotKey, snapshot: earlier, executionId: earlier.executionId };
}

/**
 * `restore-compute`: brings back exactly what ran — the snapshot's restore set united with the compute
 * that came back during the window (the restore additions): pool idle settings, the all-purpose clusters
 * that were running (never JOB/PIPELINE/SQL/MODELS clusters), the warehouses that were running or starting,
 * the continuous pipelines that were running (never a full refresh), and, last, the schedules / continuous /
 * triggers that were UNPAUSED. Also the compensation step after a failure anywhere: without `item.compute`
 * the key is derived; without a snapshot of its own it restores what an earlier execution left stopped
 * (`findRestoreSet`), else nothing was touched. Idempotent: the current state is read first, so a running
 * cluster is not started twice. Per-resource errors are collected, not thrown. What cannot be read or done
 * now — the snapshot or one kind's list while S3 or Databricks is throttling or unavailable, a throttled
 * call — is not a failure: nothing is decided about it here, the checks do it until the restore deadline.
 */
export async function restoreCompute(item: RestoreItem, deps: ComputeDeps): Promise<RestoreResult> {
  const ownKey = item.compute?.snapshotKey ?? snapshotKeyOf(item);
  const deadline = deps.now() + deps.settings.computeRestoreTimeoutMinutes * MINUTE;
  // `cameBack` is always there: the state machine's result reads it (none known without the additions).
  const nothing = { started: NONE, failed: [], failedCount: 0, deadline, cameBack: NO_CAME_BACK };
  let source: RestoreSource | undefined;
  try {
    source = await findRestoreSet(item, ownKey, deps.store);
  } catch (error) {
    if (!isTransient(error)) throw error;
    logger.warn('compute snapshot could not be read; the checks read it again until the restore deadline', {
      snapshotKey: ownKey,
      error: errorText(error),
    });
    return { snapshotKey: ownKey, nothingToRestore: false, snapshotUnread: true, ...nothing };
  }
  if (!source) return { snapshotKey: ownKey, nothingToRestore: true, ...nothing };
  const { key, snapshot } = source;
  const earlier = source.executionId === item.executionId ? {} : { snapshotExecutionId: source.executionId };
  const cameBack = await cameBackOf(deps.store, key, ownerOf(item, source.executionId));
  const limit = deps.settings.apiConcurrency;
  const { view, unread } = await readRestoreView(deps.api, snapshot, { jobs: true, limit });
  if (unread.size > 0)
    logger.warn('compute restore could not read some kinds; the checks restore them', {
      snapshotKey: key,
      unread: [...unread].map(([kind, error]) => `${kind}: ${errorText(error)}`),
    });
  const assessment = withUnread(assessRestore(snapshot, view, 'restore', new Set(unread.keys())), unread);
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
  const deferred = outcome.deferred + assessment.pending.filter((r) => unread.has(r.kind)).length;
  return {
    snapshotKey: key,
    nothingToRestore: false,
    started: restoreCounts(outcome.done),
    failed: failed.slice(0, MAX_LISTED),
    failedCount: failed.length,
    deadline,
    confirmed: confirmedByRestore(assessment, outcome.done),
    ...(deferred > 0 ? { deferred } : {}),
    ...(outcome.throttledKinds.length > 0 ? { throttledKinds: outcome.throttledKinds } : {}),
    ...earlier,
    cameBack,
  };
}

/**
 * The compute that came back during the window, for the step's report (first 20). Only a report: when the
 * additions cannot be read again now (they were read for the restore set a moment ago), none is reported.
 */
async function cameBackOf(
  store: SnapshotStore,
  key: string,
  owner: SnapshotOwner,
): Promise<NonNullable<RestoreResult['cameBack']>> {
  let additions: Awaited<ReturnType<typeof loadAdditions>>;
  try {
    additions = await loadAdditions(store, key, owner);
  } catch (error) {
    if (!isTransient(error)) throw error;
    return NO_CAME_BACK;
  }
  return {
    count: additions?.count ?? 0,
    events: (additions?.events ?? []).slice(0, 20).map((e) => ({
      kind: e.kind,
      id: e.id,
      seenAt: e.seenAt,
      ...(e.state === undefined ? {} : { state: e.state }),
    })),
  };
}

/**
 * The assessment with the resources of `unread` kinds (assessed as if verified, since nothing is known of
 * them) moved from restored to pending: they are neither back nor failed, and no call is made for them.
 */
function withUnread(
  assessment: RestoreAssessment,
  unread: ReadonlyMap<ComputeKind, unknown>,
): RestoreAssessment {
  if (unread.size === 0) return assessment;
  const unknown = assessment.restored.filter((r) => unread.has(r.kind));
  return {
    ...assessment,
    restored: assessment.restored.filter((r) => !unread.has(r.kind)),
    pending: [...assessment.pending, ...unknown],
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
 * throttling, a failed launch) is tried again with backoff until the restore deadline, and what cannot be
 * read this turn (the snapshot, or one kind's list, while S3 or Databricks is throttling or unavailable) is
 * read again at the next turn while the other kinds are restored. Fails with `ComputeNotRestored` naming
 * every resource not back, each with its last error or state, once the deadline has passed or only
 * resources that no longer exist are left.
 */
export async function checkComputeRestored(
  item: RestoreCheckItem,
  deps: ComputeDeps,
  options: {
    /**
     * Minutes after the restore began that throttling may move its deadline to (`throttledRestoreMinutes`,
     * lib/plan/history-budget.ts: what the execution's history leaves room for).
     */
    throttledMaxMinutes?: number;
  } = {},
): Promise<RestoreCheckResult> {
  if (item.restore.nothingToRestore)
    return { status: 'RESTORED', restored: NONE, pending: NONE, jobsVerified: true };
  const workspaceId = item.workspace.workspaceId;
  const limit = deps.settings.apiConcurrency;
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
    extendedDeadline(
      deadline,
      item.restore.deadline,
      deps.settings.computeRestoreTimeoutMinutes,
      {
        now,
        since:
          (sameRestore ? last?.checkedAt : undefined) ??
          item.restore.deadline - deps.settings.computeRestoreTimeoutMinutes * MINUTE,
      },
      options.throttledMaxMinutes ?? LIMITS.computeRestoreTimeoutMinutes,
    );
  /** A turn that learnt nothing: what the last turn knew, checked again at the next one. */
  const nothingLearnt = (why: Partial<RestoreCheckResult>): RestoreCheckResult => ({
    status: 'WAITING',
    restored: last?.restored ?? NONE,
    pending: last?.pending ?? NONE,
    jobsVerified,
    verified: [...verified],
    restoreDeadline: item.restore.deadline,
    ...(last?.retrying ? { retrying: last.retrying } : {}),
    ...(last?.throttledKinds ? { throttledKinds: last.throttledKinds } : {}),
    deadline,
    checkedAt: now,
    ...why,
  });

  let source: RestoreSource | undefined;
  try {
    source = await restoreSetOfCheck(item, deps.store);
  } catch (error) {
    if (!isTransient(error)) throw error;
    if (now > deadline) throw snapshotNotReadByDeadline(item, deps.store, error);
    logger.warn('compute snapshot could not be read; checked again at the next turn', {
      workspaceId,
      snapshotKey: item.restore.snapshotKey,
      error: errorText(error),
    });
    return nothingLearnt({ snapshotUnread: true });
  }
  if (!source) return { status: 'RESTORED', restored: NONE, pending: NONE, jobsVerified: true };
  const { key, snapshot } = source;

  const { view, unread } = await readRestoreView(deps.api, snapshot, {
    jobs: !jobsVerified,
    limit,
    skip: verified,
    // Past the deadline this turn names what is not back: every cluster is read then.
    clustersNotUp: now <= deadline,
  });
  // Throttling is a speed, not a failure: a kind Databricks throttled is read at the next turn, and the
  // time lost moves the deadline; one it did not answer for (5xx, no answer) is read again until the deadline.
  const throttledRead = [...unread.values()].some(isDeferred);
  if (unread.size > 0)
    logger.warn('compute restore check could not read some kinds; read again at the next turn', {
      workspaceId,
      unread: [...unread].map(([kind, error]) => `${kind}: ${errorText(error)}`),
    });
  const assessment = withUnread(
    assessRestore(snapshot, view, 'check', new Set([...verified, ...unread.keys()])),
    unread,
  );

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
    try {
      await closeOpenSnapshot(deps.store, workspaceId, key, snapshot);
    } catch (error) {
      if (!isTransient(error)) throw error;
      // Everything is back; only the pointer is left open. Closed at the next turn: left open, it would
      // make the next rotation restore what ran before this one, even what was stopped by hand since.
      if (now <= deadline) {
        logger.warn('compute restored, but its open snapshot pointer could not be closed yet', {
          workspaceId,
          error: errorText(error),
        });
        return nothingLearnt({
          restored: restoreSetCounts(snapshot),
          pending: NONE,
          jobsVerified: true,
          verified: [...RESTORE_KINDS],
        });
      }
      logger.error('compute restored, but its open snapshot pointer could not be closed: delete it by hand', {
        workspaceId,
        pointer: deps.store.locate(openSnapshotKeyOf(workspaceId)),
        error: errorText(error),
      });
    }
    return { status: 'RESTORED', restored: restoreSetCounts(snapshot), pending: NONE, jobsVerified: true };
  }
  if (pending.length === 0 || now > deadline) {
    const states = stateOf(view);
    const notBack = [
      ...failed,
      ...pending.map((r) => {
        const lastError = retrying.get(`${r.kind}:${r.id}`)?.error ?? notes.get(`${r.kind}:${r.id}`);
        const unknown = unread.get(r.kind);
        const state = states(r);
        const why =
          unknown !== undefined
            ? `state unknown: ${errorText(unknown)}${lastError ? `; last error: ${lastError}` : ''}`
            : (lastError ?? `not running by the deadline${state ? ` (${state})` : ''}`);
        return { ...r, why };
      }),
    ];
    throw new ComputeNotRestored(
      `compute of workspace ${workspaceId} (${item.workspace.deploymentName}) was not fully restored; start by hand those still stopped (one shown PENDING, STARTING or RESTARTING is still coming up: check it, do not start it again) (snapshot ${deps.store.locate(key)}): ${describeRefs(notBack)}`,
      {
        details: {
          workspaceId,
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
  const throttled = outcome.throttledKinds.length > 0 || throttledRead;
  return {
    status: 'WAITING',
    restored: restoreCounts(assessment.restored),
    pending: restoreCounts([...pending, ...failed]),
    jobsVerified: nowVerified.includes('job'),
    verified: nowVerified,
    restoreDeadline: item.restore.deadline,
    ...(outcome.throttledKinds.length > 0 ? { throttledKinds: outcome.throttledKinds } : {}),
    ...(throttledRead ? { throttled: true } : {}),
    ...(unread.size > 0 ? { unreadKinds: [...unread.keys()] } : {}),
    deadline: throttled ? extended() : deadline,
    checkedAt: now,
    retrying: stillRetrying.slice(0, MAX_LISTED),
  };
}

/**
 * The restore set a check works from: the one restore-compute found (its key, and the execution that took
 * it), or — when restore-compute could not read the snapshot — found again, every turn, as it would have.
 */
async function restoreSetOfCheck(
  item: RestoreCheckItem,
  store: SnapshotStore,
): Promise<RestoreSource | undefined> {
  const key = item.restore.snapshotKey;
  if (item.restore.snapshotUnread) return findRestoreSet(item, key, store);
  const executionId = item.restore.snapshotExecutionId ?? item.executionId;
  const snapshot =
    (await loadRestoreSet(store, key, ownerOf(item, executionId))) ??
    (await loadSnapshot(store, key, item.workspace.workspaceId, executionId));
  return { key, snapshot, executionId };
}

/** The deadline passed and the snapshot still cannot be read: what is still stopped cannot be named. */
function snapshotNotReadByDeadline(
  item: RestoreCheckItem,
  store: SnapshotStore,
  error: unknown,
): ComputeNotRestored {
  const retrying = item.restoreCheck?.retrying ?? [];
  const known =
    retrying.length > 0
      ? `; last seen not back: ${describeRefs(retrying.map((r) => ({ kind: r.kind, id: r.id, why: r.error })))}`
      : '';
  return new ComputeNotRestored(
    `compute of workspace ${item.workspace.workspaceId} (${item.workspace.deploymentName}) may not be fully restored: its compute snapshot ${store.locate(item.restore.snapshotKey)} could not be read by the restore deadline (${errorText(error)}); check the workspace and restore by hand what the snapshot lists${known}`,
    { details: { workspaceId: item.workspace.workspaceId, snapshotKey: item.restore.snapshotKey } },
  );
}

/**
 * What is still stopped or paused, in words, for the execution's error when restoring failed or was not
 * attempted (the workspace was still updating). Never throws: when the snapshot or the workspace cannot be
 * read, it says so and names where the snapshot is, so an operator can restore by hand. A snapshot that S3
 * does not serve right now is asked for again a few times first (`patiently`).
 */
export async function describeNotRestored(
  item: RestoreItem,
  deps: ComputeDeps,
): Promise<{ summary: string; snapshot: string; allRestored: boolean; notRestored?: RestoreCounts }> {
  const ownKey = item.compute?.snapshotKey ?? snapshotKeyOf(item);
  let source: RestoreSource | undefined;
  try {
    source = await patiently(() => findRestoreSet(item, ownKey, deps.store));
  } catch (error) {
    const where = deps.store.locate(ownKey);
    return {
      summary: `the compute snapshot ${where} could not be read (${errorText(error)}): what was stopped is unknown; check the workspace and restore by hand`,
      snapshot: where,
      allRestored: false,
    };
  }
  if (!source) {
    const where = deps.store.locate(ownKey);
    return { summary: `nothing was stopped (no snapshot at ${where})`, snapshot: where, allRestored: true };
  }
  const { snapshot } = source;
  const where = deps.store.locate(source.key);
  const whose =
    source.executionId === item.executionId ? '' : ` (left stopped by execution ${source.executionId})`;
  const set = restoreSet(snapshot);
  let notBack: Array<ResourceRef & { why?: string }>;
  try {
    const { view, unread } = await readRestoreView(deps.api, snapshot, {
      jobs: true,
      limit: deps.settings.apiConcurrency,
    });
    const assessment = withUnread(assessRestore(snapshot, view, 'check', new Set(unread.keys())), unread);
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
        const unknown = unread.get(r.kind);
        const why = [
          unknown === undefined ? states(r) : `state unknown: ${errorText(unknown).slice(0, 120)}`,
          lastErrors.get(`${r.kind}:${r.id}`),
        ].filter((x) => x !== undefined);
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
          ? `nothing to restore (snapshot ${where}${whose})`
          : `could not read the workspace (${unknown}); what ran before and may still be stopped or paused — ${describeRefs(notBack)}; snapshot ${where}${whose}`,
      snapshot: where,
      allRestored: notBack.length === 0,
      notRestored: restoreCounts(notBack),
    };
  }
  const stopped = notBack.filter((r) => r.kind !== 'job');
  const paused = notBack.filter((r) => r.kind === 'job');
  return {
    summary: describeStillStopped({ stopped, paused, snapshot: `${where}${whose}` }),
    snapshot: where,
    // Nothing stopped or paused is left (the step that failed was a check, not the restore itself).
    allRestored: notBack.length === 0,
    notRestored: restoreCounts(notBack),
  };
}

/**
 * The deadline after a turn Databricks throttled: later by the time since the previous turn (the time that
 * went to waiting out 429s rather than to bringing compute back), but never later than `maxMinutes` after
 * the loop began — what the execution's history is sized for (DESIGN §6.10; `throttledRestoreMinutes`).
 * Never earlier than the deadline already in force.
 */
export function extendedDeadline(
  deadline: number,
  original: number,
  timeoutMinutes: number,
  turn: { now: number; since: number },
  maxMinutes: number,
): number {
  const began = original - timeoutMinutes * MINUTE;
  const cap = began + Math.max(timeoutMinutes, maxMinutes) * MINUTE;
  return Math.max(deadline, Math.min(cap, deadline + Math.max(0, turn.now - turn.since)));
}

/**
 * Everything is back: the workspace no longer has compute stopped under this snapshot — nor under an
 * earlier execution's that this one inherited (its restore set is part of this one).
 */
async function closeOpenSnapshot(
  store: SnapshotStore,
  workspaceId: number,
  key: string,
  snapshot: ComputeSnapshot,
): Promise<void> {
  const open = await openPointerOf(workspaceId, store);
  if (open && (open.snapshotKey === key || snapshot.inherited?.includes(open.snapshotKey)))
    await store.deleteDocument(openSnapshotKeyOf(workspaceId));
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
 * those in `skip` (seen wholly restored already). Each kind is read on its own: one whose list Databricks
 * does not serve now (throttling, a 5xx, no answer) is in `unread` with its error, and its map is empty;
 * any other error is thrown.
 */
async function readRestoreView(
  api: WorkspaceApi,
  snapshot: ComputeSnapshot,
  options: { jobs: boolean; limit: number; skip?: ReadonlySet<ComputeKind>; clustersNotUp?: boolean },
): Promise<{ view: RestoreView; unread: Map<ComputeKind, unknown> }> {
  const set = restoreSet(snapshot);
  const unread = new Map<ComputeKind, unknown>();
  const wanted = (kind: ComputeKind, count: number) => count > 0 && !options.skip?.has(kind);
  const readKind = async <T>(kind: ComputeKind, want: boolean, read: () => Promise<T>) => {
    if (!want) return undefined;
    try {
      return await read();
    } catch (error) {
      if (!isTransient(error)) throw error;
      unread.set(kind, error);
      return undefined;
    }
  };
  const [clusters, pools, warehouses, pipelines, jobs] = await Promise.all([
    readKind('cluster', wanted('cluster', set.clusters.length), () =>
      readRestoreClusters(api, set.clusters, options),
    ),
    readKind('pool', wanted('pool', set.pools.length), () => api.listInstancePools()),
    readKind('warehouse', wanted('warehouse', set.warehouses.length), () => api.listWarehouses()),
    readKind('pipeline', wanted('pipeline', set.pipelines.length), () => api.listPipelines()),
    readKind('job', options.jobs && wanted('job', set.jobs.length), () => api.listJobs()),
  ]);
  return {
    view: {
      clusters: clusters ?? new Map(),
      pools: new Map((pools ?? []).map((p) => [p.instance_pool_id, poolInfo(p)])),
      warehouses: new Map((warehouses ?? []).map((w) => [w.id, warehouseInfo(w)])),
      pipelines: new Map((pipelines ?? []).map((p) => [p.pipeline_id, pipelineInfo(p)])),
      jobs: jobs && new Map(jobs.map((j) => [j.job_id, (j.settings ?? {}) as Record<string, unknown>])),
    },
    unread,
  };
}

/** The restore set's clusters as they are now, by id (see `listRestoreClusters`). */
async function readRestoreClusters(
  api: WorkspaceApi,
  restoring: readonly ClusterInfo[],
  options: { limit: number; clustersNotUp?: boolean },
): Promise<Map<string, ClusterInfo>> {
  const clusters = await listRestoreClusters(api, restoring, options.clustersNotUp === true);
  const clusterMap = new Map(clusters.listed.map((c) => [c.cluster_id, clusterInfo(c)]));
  if (clusters.notUpOnly) {
    // Not in a state short of running: up (RUNNING, RESIZING) as far as this turn needs to know. Whether
    // it still exists is settled by the full list that every turn ending the loop reads.
    for (const c of restoring)
      if (!clusterMap.has(c.cluster_id)) clusterMap.set(c.cluster_id, { ...c, state: 'RUNNING' });
    return clusterMap;
  }
  const unlisted = restoring.filter((c) => !clusterMap.has(c.cluster_id));
  await mapLimit(unlisted, options.limit, async (c) => {
    const found = await orNotFound(() => api.getCluster(c.cluster_id));
    if (found) clusterMap.set(c.cluster_id, clusterInfo(found));
  });
  return clusterMap;
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

/**
 * Order of restore: clusters first (the slowest to come back, 3-7 minutes), then warehouses and pipelines;
 * pools' idle settings after them (warming idle instances is cluster-style compute too, and a cluster in a
 * pool starts without them), and schedules last.
 */
const ORDER: ReadonlyArray<RestoreAction['kind']> = ['cluster', 'warehouse', 'pipeline', 'pool', 'job'];

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
