import { mapLimit, settleLimit } from '../concurrency.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { logger } from '../log.ts';
import type { ComputeDeps } from './deps.ts';
import { ComputeNotRestored, describeRefs } from './errors.ts';
import {
  type ComputeSnapshot,
  MAX_LISTED,
  type ResourceRef,
  type RestoreCheckItem,
  type RestoreCheckResult,
  type RestoreCounts,
  type RestoreFailure,
  type RestoreItem,
  type RestoreResult,
  snapshotKeyOf,
} from './model.ts';
import { clusterInfo, orNotFound, pipelineInfo, poolInfo, warehouseInfo } from './read.ts';
import {
  assessRestore,
  type RestoreAction,
  type RestoreView,
  restoreCounts,
  restoreSet,
  restoreSetCounts,
} from './rules.ts';
import { loadSnapshot } from './snapshot-store.ts';

const MINUTE = 60_000;
const NONE: RestoreCounts = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, jobs: 0 };

/**
 * `restore-compute`: brings back exactly what the snapshot says ran: pool idle settings, the all-purpose
 * clusters that were running (never JOB/PIPELINE/SQL/MODELS clusters), the warehouses that were running or
 * starting, the continuous pipelines that were running (never a full refresh), and, last, the schedules /
 * continuous / triggers that were UNPAUSED. Also the compensation step after a failure anywhere: without
 * `item.compute` the key is derived, and without a snapshot nothing was touched. Idempotent: the current state
 * is read first, so a running cluster is not started twice. Per-resource errors are collected, not thrown.
 */
export async function restoreCompute(item: RestoreItem, deps: ComputeDeps): Promise<RestoreResult> {
  const key = item.compute?.snapshotKey ?? snapshotKeyOf(item);
  const deadline = deps.now() + deps.settings.computeRestoreTimeoutMinutes * MINUTE;
  const snapshot = await deps.store.get(key);
  if (!snapshot) {
    return { snapshotKey: key, nothingToRestore: true, started: NONE, failed: [], failedCount: 0, deadline };
  }
  const limit = deps.settings.apiConcurrency;
  const view = await readRestoreView(deps.api, snapshot, { jobs: true, limit });
  const assessment = assessRestore(snapshot, view, 'restore');
  const outcome = await runActions(deps.api, assessment.actions, limit);
  const failed: RestoreFailure[] = [
    ...assessment.failed.map((f) => ({ kind: f.kind, id: f.id, error: f.why })),
    ...outcome.failed,
  ];
  if (failed.length > 0)
    logger.warn('compute restore: some resources failed', {
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
  };
}

/**
 * `check-compute-restored`, one turn of the restore loop: RESTORED when everything of the restore set runs
 * again, WAITING while something is on its way (and starts what became startable since, e.g. a cluster that
 * was still terminating when restore ran). Fails with `ComputeNotRestored`, naming every resource not back,
 * once only failures are left or the deadline has passed.
 */
export async function checkComputeRestored(
  item: RestoreCheckItem,
  deps: ComputeDeps,
): Promise<RestoreCheckResult> {
  if (item.restore.nothingToRestore)
    return { status: 'RESTORED', restored: NONE, pending: NONE, jobsVerified: true };
  const limit = deps.settings.apiConcurrency;
  const snapshot = await loadSnapshot(deps.store, item.restore.snapshotKey, item.workspace.workspaceId);
  const jobsVerified = item.restoreCheck?.jobsVerified === true;
  const view = await readRestoreView(deps.api, snapshot, { jobs: !jobsVerified, limit });
  const knownFailed = new Set(item.restore.failed.map((f) => `${f.kind}:${f.id}`));
  const assessment = assessRestore(snapshot, view, 'check', knownFailed);
  const outcome = await runActions(deps.api, assessment.actions, limit);
  const failedNow = new Set(outcome.failed.map((f) => `${f.kind}:${f.id}`));
  const failed = [
    ...assessment.failed,
    ...outcome.failed.map((f) => ({ kind: f.kind, id: f.id, why: f.error })),
  ];
  const pending = assessment.pending.filter((r) => !failedNow.has(`${r.kind}:${r.id}`));
  const now = deps.now();

  if (failed.length === 0 && pending.length === 0) {
    return { status: 'RESTORED', restored: restoreSetCounts(snapshot), pending: NONE, jobsVerified: true };
  }
  if (pending.length === 0 || now > item.restore.deadline) {
    const notBack = [...failed, ...pending.map((r) => ({ ...r, why: 'not running by the deadline' }))];
    throw new ComputeNotRestored(
      `compute of workspace ${item.workspace.workspaceId} (${item.workspace.deploymentName}) was not fully restored; start these by hand (snapshot ${item.restore.snapshotKey}): ${describeRefs(notBack)}`,
      {
        details: {
          workspaceId: item.workspace.workspaceId,
          snapshotKey: item.restore.snapshotKey,
          notRestored: restoreCounts(notBack),
        },
      },
    );
  }
  return {
    status: 'WAITING',
    restored: restoreCounts(assessment.restored),
    pending: restoreCounts([...pending, ...failed]),
    jobsVerified: jobsVerified || ![...pending, ...failed].some((r) => r.kind === 'job'),
  };
}

/**
 * The current state of the restore set only: lists, not gets (all-purpose clusters by source filter; a
 * cluster the list no longer shows is fetched on its own). Kinds with nothing to restore are not read.
 */
async function readRestoreView(
  api: WorkspaceApi,
  snapshot: ComputeSnapshot,
  options: { jobs: boolean; limit: number },
): Promise<RestoreView> {
  const set = restoreSet(snapshot);
  const [clusters, pools, warehouses, pipelines, jobs] = await Promise.all([
    set.clusters.length === 0 ? [] : api.listClusters({ cluster_sources: ['UI', 'API'] }),
    set.pools.length === 0 ? [] : api.listInstancePools(),
    set.warehouses.length === 0 ? [] : api.listWarehouses(),
    set.pipelines.length === 0 ? [] : api.listPipelines(),
    options.jobs && set.jobs.length > 0 ? api.listJobs() : undefined,
  ]);
  const clusterMap = new Map(clusters.map((c) => [c.cluster_id, clusterInfo(c)]));
  const unlisted = set.clusters.filter((c) => !clusterMap.has(c.cluster_id));
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

/** Order of restore: pool settings, clusters, warehouses, pipelines, and schedules last (reference §4 gotchas). */
const ORDER: ReadonlyArray<RestoreAction['kind']> = ['pool', 'cluster', 'warehouse', 'pipeline', 'job'];

async function runActions(
  api: WorkspaceApi,
  actions: readonly RestoreAction[],
  limit: number,
): Promise<{ done: ResourceRef[]; failed: RestoreFailure[] }> {
  const done: ResourceRef[] = [];
  const failed: RestoreFailure[] = [];
  for (const kind of ORDER) {
    const group = actions.filter((a) => a.kind === kind);
    const results = await settleLimit(group, limit, (a) => perform(api, a));
    results.forEach((r, i) => {
      const action = group[i] as RestoreAction;
      if (r.ok) done.push({ kind: action.kind, id: action.id });
      else failed.push({ kind: action.kind, id: action.id, error: errorText(r.error) });
    });
  }
  return { done, failed };
}

function perform(api: WorkspaceApi, action: RestoreAction): Promise<unknown> {
  switch (action.kind) {
    case 'pool': {
      const p = action.edit;
      return api.editInstancePool({
        instance_pool_id: p.instance_pool_id,
        instance_pool_name: p.instance_pool_name,
        node_type_id: p.node_type_id,
        ...(p.max_capacity === undefined ? {} : { max_capacity: p.max_capacity }),
        ...(p.custom_tags === undefined ? {} : { custom_tags: p.custom_tags }),
        min_idle_instances: p.min_idle_instances ?? 0,
        ...(p.idle_instance_autotermination_minutes === undefined
          ? {}
          : { idle_instance_autotermination_minutes: p.idle_instance_autotermination_minutes }),
      });
    }
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

/** A short, secret-free reason (Databricks errors carry method, endpoint, code and Databricks' message). */
function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
