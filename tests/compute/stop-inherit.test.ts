import { describe, expect, it } from 'vitest';
import type { ComputeDeps } from '../../lib/compute/deps.ts';
import { type ComputeSnapshot, type StopItem, snapshotKeyOf } from '../../lib/compute/model.ts';
import { restoreSet } from '../../lib/compute/rules.ts';
import { MemorySnapshotStore, openSnapshotKeyOf } from '../../lib/compute/snapshot-store.ts';
import { stopCompute } from '../../lib/compute/stop.ts';
import type { WorkspaceApi } from '../../lib/databricks/api.ts';
import { DatabricksApiError } from '../../lib/databricks/errors.ts';
import type { ClusterDetails, InstancePool, Job, Pipeline, Warehouse } from '../../lib/databricks/types.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * Issue 14 §5: a single short list answer never shrinks what gets restored. A new execution that finds a
 * workspace an earlier one left stopped inherits that one's restore set (DESIGN §6.4); an inherited entry the
 * fresh list does not show is read directly, and left out only when that read says it no longer exists.
 */

const WS = 42;

/** A workspace held in memory: lists leave out `hidden`, direct reads answer 404 for `gone`, 500 for `failing`. */
interface Fake {
  clusters: ClusterDetails[];
  pools: InstancePool[];
  warehouses: Warehouse[];
  jobs: Job[];
  pipelines: Pipeline[];
  hidden: Set<string>;
  gone: Set<string>;
  failing: Set<string>;
  reads: string[];
}

function running(): Fake {
  return {
    clusters: [
      { cluster_id: 'ui', cluster_source: 'UI', state: 'RUNNING' },
      { cluster_id: 'api', cluster_source: 'API', state: 'RUNNING' },
    ],
    pools: [
      {
        instance_pool_id: 'pool',
        instance_pool_name: 'pool',
        node_type_id: 'i3.xlarge',
        min_idle_instances: 2,
        idle_instance_autotermination_minutes: 30,
        state: 'ACTIVE',
      },
    ],
    warehouses: [{ id: 'wh', state: 'RUNNING', warehouse_type: 'PRO' }],
    jobs: [
      {
        job_id: 7,
        settings: {
          name: 'hourly',
          schedule: { quartz_cron_expression: '0 0 * * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
        },
      },
    ],
    pipelines: [{ pipeline_id: 'pipe', state: 'RUNNING', spec: { continuous: true } }],
    hidden: new Set(),
    gone: new Set(),
    failing: new Set(),
    reads: [],
  };
}

/** What the earlier execution left: everything stopped, the pool emptied, the schedule paused. */
function leftStopped(ws: Fake): void {
  for (const c of ws.clusters) c.state = 'TERMINATED';
  for (const w of ws.warehouses) w.state = 'STOPPED';
  for (const p of ws.pipelines) p.state = 'IDLE';
  for (const p of ws.pools)
    Object.assign(p, { min_idle_instances: 0, idle_instance_autotermination_minutes: 0 });
  for (const j of ws.jobs)
    Object.assign(j.settings?.schedule ?? {}, { pause_status: 'PAUSED' satisfies 'PAUSED' | 'UNPAUSED' });
}

const apiError = (endpoint: string, status: number, errorCode: string) =>
  new DatabricksApiError({
    method: 'GET',
    endpoint,
    target: 'workspace fake',
    status,
    errorCode,
    apiMessage: status === 404 ? `${endpoint}: does not exist` : 'internal error',
    attempts: 1,
  });

function api(ws: Fake): WorkspaceApi {
  const shown = <T>(items: readonly T[], idOf: (x: T) => string) =>
    items.filter((x) => !ws.hidden.has(idOf(x)));
  const get = async <T>(endpoint: string, id: string, items: readonly T[], idOf: (x: T) => string) => {
    ws.reads.push(`${endpoint} ${id}`);
    if (ws.gone.has(id)) throw apiError(endpoint, 404, 'RESOURCE_DOES_NOT_EXIST');
    if (ws.failing.has(id)) throw apiError(endpoint, 500, 'INTERNAL_ERROR');
    const found = items.find((x) => idOf(x) === id);
    if (!found) throw apiError(endpoint, 404, 'RESOURCE_DOES_NOT_EXIST');
    return found;
  };
  const nothing = async () => {};
  return {
    deploymentName: 'fake',
    listClusters: async () => shown(ws.clusters, (c) => c.cluster_id),
    getCluster: (id) => get('clusters/get', id, ws.clusters, (c) => c.cluster_id),
    terminateCluster: nothing,
    startCluster: nothing,
    listInstancePools: async () => shown(ws.pools, (p) => p.instance_pool_id),
    getInstancePool: (id) => get('instance-pools/get', id, ws.pools, (p) => p.instance_pool_id),
    editInstancePool: nothing,
    listWarehouses: async () => shown(ws.warehouses, (w) => w.id),
    getWarehouse: (id) => get('sql/warehouses/get', id, ws.warehouses, (w) => w.id),
    stopWarehouse: nothing,
    startWarehouse: nothing,
    listJobs: async () => shown(ws.jobs, (j) => String(j.job_id)),
    getJob: (id) => get('jobs/get', String(id), ws.jobs, (j) => String(j.job_id)),
    updateJob: nothing,
    listRuns: async () => [],
    getRun: (id) => get('jobs/runs/get', String(id), [], () => ''),
    cancelRun: nothing,
    listPipelines: async () => shown(ws.pipelines, (p) => p.pipeline_id),
    getPipeline: (id) => get('pipelines/get', id, ws.pipelines, (p) => p.pipeline_id),
    stopPipeline: nothing,
    startPipelineUpdate: async () => ({ update_id: 'u' }),
  };
}

const item = (executionId: string): StopItem => ({
  executionId,
  workspace: {
    workspaceId: WS,
    workspaceName: 'prod',
    deploymentName: 'fake',
    region: 'us-east-1',
    current: { managedServicesKeyConfigId: 'cfg-old', storageKeyConfigId: null },
    changes: { managedServices: true, storage: false },
    storageAdded: false,
    steps: [],
  },
  target: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/new', keyId: 'new', region: 'us-east-1' },
  useCases: ['MANAGED_SERVICES'],
  reuseKeyForClusterVolumes: true,
  activeRuns: 'cancel',
  drainTimeoutMinutes: 60,
  emergency: false,
  storageWaitSeconds: 0,
});

const deps = (ws: Fake, store: MemorySnapshotStore): ComputeDeps => ({
  api: api(ws),
  store,
  settings: { apiConcurrency: 4, computeStopTimeoutMinutes: 30, computeRestoreTimeoutMinutes: 30 },
  now: () => 1_800_000_000_000,
});

/**
 * The first execution stops everything and dies without restoring (its open pointer stays); `between` edits
 * the workspace before the second execution's stop, whose restore set is returned as ids by kind.
 */
async function secondExecutionRestores(between: (ws: Fake) => void) {
  const ws = running();
  const store = new MemorySnapshotStore();
  const first = item('first');
  await stopCompute(first, deps(ws, store));
  expect(await store.getDocument(openSnapshotKeyOf(WS))).toMatchObject({ snapshotKey: snapshotKeyOf(first) });
  leftStopped(ws);
  between(ws);
  ws.reads = [];
  const second = item('second');
  await stopCompute(second, deps(ws, store));
  const snapshot = (await store.get(snapshotKeyOf(second))) as ComputeSnapshot;
  expect(snapshot.inherited).toEqual([snapshotKeyOf(first)]);
  const set = restoreSet(snapshot);
  return {
    reads: ws.reads,
    clusters: set.clusters.map((c) => c.cluster_id).sort(),
    warehouses: set.warehouses.map((w) => w.id),
    pipelines: set.pipelines.map((p) => p.pipeline_id),
    pools: set.pools.map((p) => p.instance_pool_id),
    jobs: set.jobs.map((j) => j.job_id),
  };
}

const EVERYTHING = {
  clusters: ['api', 'ui'],
  warehouses: ['wh'],
  pipelines: ['pipe'],
  pools: ['pool'],
  jobs: [7],
};

describe('stopCompute: what a new execution inherits from one that left compute stopped', () => {
  it('inherits the whole restore set, reading nothing directly, when the lists show everything', async () => {
    // Act
    const { reads, ...restores } = await secondExecutionRestores(() => {});
    // Assess
    expect(restores).toEqual(EVERYTHING);
    expect(reads).toEqual([]);
  });

  it('keeps a cluster a short cluster list answer missed (a direct read finds it)', async () => {
    // Act
    const { reads, ...restores } = await secondExecutionRestores((ws) => ws.hidden.add('ui'));
    // Assess
    expect(restores).toEqual(EVERYTHING);
    expect(reads).toContain('clusters/get ui');
  });

  it('keeps every kind a short list answer missed: warehouse, pipeline, pool and job', async () => {
    // Act
    const { reads, ...restores } = await secondExecutionRestores((ws) => {
      for (const id of ['wh', 'pipe', 'pool', '7']) ws.hidden.add(id);
    });
    // Assess
    expect(restores).toEqual(EVERYTHING);
    expect(reads).toEqual(
      expect.arrayContaining([
        'sql/warehouses/get wh',
        'pipelines/get pipe',
        'instance-pools/get pool',
        'jobs/get 7',
      ]),
    );
  });

  it('keeps an entry whose direct read fails for another reason than "does not exist"', async () => {
    // Act
    const { reads: _, ...restores } = await secondExecutionRestores((ws) => {
      ws.hidden.add('ui');
      ws.failing.add('ui');
      ws.hidden.add('wh');
      ws.failing.add('wh');
    });
    // Assess
    expect(restores).toEqual(EVERYTHING);
  });

  it('leaves out only what a direct read says no longer exists', async () => {
    // Prepare: the cluster, warehouse, pipeline, pool and job were deleted after the first execution
    const deleted = ['ui', 'wh', 'pool', '7', 'pipe'];
    // Act
    const { reads, ...restores } = await secondExecutionRestores((ws) => {
      for (const id of deleted) {
        ws.hidden.add(id);
        ws.gone.add(id);
      }
    });
    // Assess
    expect(restores).toEqual({ clusters: ['api'], warehouses: [], pipelines: [], pools: [], jobs: [] });
    expect(reads).toEqual(expect.arrayContaining(['clusters/get ui', 'jobs/get 7']));
  });
});
