import { mapLimit } from '../concurrency.ts';
import type { WorkspaceApi } from '../databricks/api.ts';
import { DatabricksApiError } from '../databricks/errors.ts';
import type {
  ClusterDetails,
  ClusterState,
  EditInstancePool,
  InstancePool,
  Job,
  Pipeline,
  Run,
  Warehouse,
} from '../databricks/types.ts';
import type { ClusterInfo, PipelineInfo, PoolInfo, RunInfo, WarehouseInfo } from './model.ts';
import { isActivePipeline, LIVE_CLUSTER_STATES } from './rules.ts';

/**
 * Reads a workspace's compute through the `WorkspaceApi` and keeps only what quiesce and restore need
 * (the fields a later edit must repeat, the states, the ids). List calls over N/100 pages, never N gets.
 */

/** Run triggers of continuous jobs (reference §6). */
const CONTINUOUS_TRIGGERS = new Set(['CONTINUOUS', 'CONTINUOUS_RESTART']);

export function clusterInfo(c: ClusterDetails): ClusterInfo {
  const code = (c.termination_reason as { code?: string } | undefined)?.code;
  return {
    cluster_id: c.cluster_id,
    ...(c.cluster_name === undefined ? {} : { cluster_name: c.cluster_name }),
    state: c.state,
    ...(c.cluster_source === undefined ? {} : { cluster_source: c.cluster_source }),
    ...(typeof c.instance_pool_id === 'string' ? { instance_pool_id: c.instance_pool_id } : {}),
    ...(code === undefined ? {} : { termination_code: code }),
  };
}

export function poolInfo(p: InstancePool): PoolInfo {
  return {
    instance_pool_id: p.instance_pool_id,
    instance_pool_name: p.instance_pool_name,
    node_type_id: p.node_type_id,
    ...pick(p, [
      'min_idle_instances',
      'max_capacity',
      'idle_instance_autotermination_minutes',
      'custom_tags',
      'state',
    ]),
    stats: {
      idle_count: p.stats?.idle_count ?? 0,
      used_count: p.stats?.used_count ?? 0,
      pending_idle_count: p.stats?.pending_idle_count ?? 0,
      pending_used_count: p.stats?.pending_used_count ?? 0,
    },
  };
}

export function warehouseInfo(w: Warehouse): WarehouseInfo {
  return { id: w.id, state: w.state, ...pick(w, ['name', 'warehouse_type', 'enable_serverless_compute']) };
}

export function runInfo(r: Run, continuousJobs: ReadonlySet<number>): RunInfo {
  return {
    run_id: r.run_id,
    ...pick(r, ['job_id', 'trigger', 'start_time']),
    life_cycle_state: r.state?.life_cycle_state ?? 'RUNNING',
    continuous:
      (r.job_id !== undefined && continuousJobs.has(r.job_id)) ||
      (r.trigger !== undefined && CONTINUOUS_TRIGGERS.has(r.trigger)),
  };
}

export function pipelineInfo(p: Pipeline): PipelineInfo {
  return {
    pipeline_id: p.pipeline_id,
    state: p.state ?? 'IDLE',
    ...(p.name === undefined ? {} : { name: p.name }),
    ...(p.spec?.continuous === undefined ? {} : { continuous: p.spec.continuous }),
    ...(p.spec?.serverless === undefined ? {} : { serverless: p.spec.serverless }),
  };
}

/** Every cluster the list shows (active, pinned, terminated in the last 30 days). */
export async function readClusters(api: WorkspaceApi): Promise<ClusterInfo[]> {
  return (await api.listClusters()).map(clusterInfo);
}

/** Only clusters that still hold instances: one filtered list instead of a get per cluster. */
export async function readLiveClusters(api: WorkspaceApi): Promise<ClusterInfo[]> {
  return (await api.listClusters({ cluster_states: LIVE_CLUSTER_STATES as ClusterState[] })).map(clusterInfo);
}

export async function readPools(api: WorkspaceApi): Promise<PoolInfo[]> {
  return (await api.listInstancePools()).map(poolInfo);
}

export async function readWarehouses(api: WorkspaceApi): Promise<WarehouseInfo[]> {
  return (await api.listWarehouses()).map(warehouseInfo);
}

export async function readActiveRuns(
  api: WorkspaceApi,
  continuousJobs: ReadonlySet<number>,
): Promise<RunInfo[]> {
  return (await api.listRuns({ activeOnly: true })).map((r) => runInfo(r, continuousJobs));
}

/**
 * Every pipeline; with `withSpec`, each active one is read whole too (`spec.continuous` is not in the list).
 * Those reads are one call per pipeline, so under a tight rate limit they may outlast one invocation: the
 * entries already read are kept in `specs` (by id), which a caller can store and hand back to the next
 * attempt — the specs do not change while a rotation snapshots, the states are always taken from the list.
 */
export async function readPipelines(
  api: WorkspaceApi,
  options: { withSpec: boolean; concurrency: number; specs?: Map<string, PipelineInfo> },
): Promise<PipelineInfo[]> {
  const listed = (await api.listPipelines()).map(pipelineInfo);
  if (!options.withSpec) return listed;
  const specs = options.specs ?? new Map<string, PipelineInfo>();
  return mapLimit(listed, options.concurrency, async (p) => {
    if (!isActivePipeline(p)) return p;
    const known = specs.get(p.pipeline_id);
    if (known) return { ...known, state: p.state };
    const full = await orNotFound(() => api.getPipeline(p.pipeline_id));
    if (!full) return p;
    const info = pipelineInfo(full);
    specs.set(p.pipeline_id, info);
    return { ...info, state: p.state };
  });
}

/** Every job with its settings (schedule / continuous / trigger are in the list items). */
export async function readJobs(api: WorkspaceApi): Promise<Job[]> {
  return api.listJobs();
}

/**
 * The `instance-pools/edit` request for `p` with the given idle settings. Edit replaces the pool's fields,
 * so name, node type, capacity and tags are repeated as read (tag values as strings, as the API takes them).
 */
export function poolEditRequest(
  p: PoolInfo,
  idle: { min_idle_instances: number; idle_instance_autotermination_minutes?: number | undefined },
): EditInstancePool {
  const tags =
    p.custom_tags === undefined
      ? undefined
      : Object.fromEntries(Object.entries(p.custom_tags).map(([k, v]) => [k, String(v)]));
  return {
    instance_pool_id: p.instance_pool_id,
    instance_pool_name: p.instance_pool_name,
    node_type_id: p.node_type_id,
    ...(p.max_capacity === undefined ? {} : { max_capacity: p.max_capacity }),
    ...(tags === undefined ? {} : { custom_tags: tags }),
    min_idle_instances: idle.min_idle_instances,
    ...(idle.idle_instance_autotermination_minutes === undefined
      ? {}
      : { idle_instance_autotermination_minutes: idle.idle_instance_autotermination_minutes }),
  };
}

/** `undefined` when the resource is gone (404 RESOURCE_DOES_NOT_EXIST); other errors propagate. */
export async function orNotFound<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * The resource is gone. Databricks answers a missing cluster, job or run with `400 INVALID_PARAMETER_VALUE`
 * "… does not exist" (the official SDKs' generated error overrides map exactly this to NotFound), other
 * APIs with 404 `RESOURCE_DOES_NOT_EXIST`.
 */
export function isNotFound(error: unknown): boolean {
  return (
    error instanceof DatabricksApiError &&
    (error.status === 404 ||
      error.errorCode === 'RESOURCE_DOES_NOT_EXIST' ||
      error.errorCode === 'NOT_FOUND' ||
      (error.status === 400 &&
        error.errorCode === 'INVALID_PARAMETER_VALUE' &&
        /does not exist/i.test(error.apiMessage)))
  );
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (obj[key] !== undefined) out[key] = obj[key];
  return out;
}
