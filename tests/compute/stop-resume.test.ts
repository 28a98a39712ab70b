import { describe, expect, it } from 'vitest';
import type { ComputeDeps } from '../../lib/compute/deps.ts';
import { snapshotKeyOf } from '../../lib/compute/model.ts';
import { MemorySnapshotStore, pipelineSpecsKeyOf } from '../../lib/compute/snapshot-store.ts';
import { stopCompute } from '../../lib/compute/stop.ts';
import type { WorkspaceApi } from '../../lib/databricks/api.ts';
import { DatabricksThrottled } from '../../lib/databricks/errors.ts';
import type { Job, Pipeline } from '../../lib/databricks/types.ts';
import { itemFor } from './harness.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * Under a tight rate limit, `stop-compute`'s reads and pauses (one call per pipeline, one per job) can
 * outlast one invocation, and the state machine retries the step. Each retry must go on from where the
 * last attempt stopped — not start over and run out of time again at the same place, which turned a slow
 * rotation of a large workspace into a failed one.
 */

const throttled = (endpoint: string) =>
  new DatabricksThrottled({
    method: endpoint.startsWith('jobs/update') ? 'POST' : 'GET',
    endpoint,
    target: 'workspace fake',
    status: 429,
    errorCode: 'REQUEST_LIMIT_EXCEEDED',
    apiMessage: 'slow down',
    attempts: 5,
  });

interface Fake {
  pipelines: Pipeline[];
  jobs: Job[];
  /** Reads or writes the fake refuses (throttled past the client's retries), by `endpoint id`. */
  refusing: Set<string>;
  calls: string[];
}

function workspace(): Fake {
  return {
    pipelines: Array.from({ length: 6 }, (_, i) => ({
      pipeline_id: `p${i}`,
      state: 'RUNNING',
      spec: { continuous: i % 2 === 0 },
    })),
    jobs: Array.from({ length: 4 }, (_, i) => ({
      job_id: i + 1,
      settings: {
        name: `job-${i + 1}`,
        schedule: { quartz_cron_expression: '0 0 * * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
      },
    })),
    refusing: new Set(),
    calls: [],
  };
}

function api(ws: Fake): WorkspaceApi {
  const call = (what: string) => {
    ws.calls.push(what);
    if (ws.refusing.has(what)) throw throttled(what);
  };
  const nothing = async () => {};
  return {
    deploymentName: 'fake',
    listClusters: async () => [],
    listInstancePools: async () => [],
    listWarehouses: async () => [],
    listJobs: async () => {
      call('jobs/list');
      return structuredClone(ws.jobs);
    },
    updateJob: async (id: number, settings: Record<string, unknown>) => {
      call(`jobs/update ${id}`);
      const job = ws.jobs.find((j) => j.job_id === id);
      if (job) job.settings = { ...job.settings, ...settings };
    },
    listRuns: async () => [],
    cancelRun: nothing,
    listPipelines: async () => {
      call('pipelines/list');
      return ws.pipelines.map(({ spec: _spec, ...listed }) => listed);
    },
    getPipeline: async (id: string) => {
      call(`pipelines/get ${id}`);
      return structuredClone(ws.pipelines.find((p) => p.pipeline_id === id) as Pipeline);
    },
    stopPipeline: async (id: string) => {
      call(`pipelines/stop ${id}`);
    },
  } as unknown as WorkspaceApi;
}

const item = itemFor({ executionId: 'resume' });

const deps = (ws: Fake, store: MemorySnapshotStore): ComputeDeps => ({
  api: api(ws),
  store,
  settings: { apiConcurrency: 1, computeStopTimeoutMinutes: 30, computeRestoreTimeoutMinutes: 30 },
  now: () => 1_800_000_000_000,
});

describe('stop-compute retried after running out of time', () => {
  it('keeps the pipelines it read, and the retry reads only the others', async () => {
    // Prepare: the fourth pipeline's read is throttled past the client's retries.
    const ws = workspace();
    const store = new MemorySnapshotStore();
    ws.refusing.add('pipelines/get p3');

    // Act
    const first = await stopCompute(item, deps(ws, store)).catch((e: unknown) => e);
    ws.refusing.clear();
    ws.calls = [];
    const second = await stopCompute(item, deps(ws, store));

    // Assess
    expect(first).toBeInstanceOf(DatabricksThrottled);
    expect(ws.calls.filter((c) => c.startsWith('pipelines/get'))).toEqual([
      'pipelines/get p3',
      'pipelines/get p4',
      'pipelines/get p5',
    ]);
    // The snapshot has every pipeline with its spec, whichever attempt read it.
    const snapshot = await store.get(snapshotKeyOf(item));
    expect(snapshot?.pipelines.map((p) => [p.pipeline_id, p.continuous])).toEqual(
      ws.pipelines.map((p) => [p.pipeline_id, p.spec?.continuous]),
    );
    expect(second.counts.pipelines).toBe(6);
    // What the first attempt kept for the retry: the three pipelines it had read.
    const kept = (await store.getDocument(pipelineSpecsKeyOf(snapshotKeyOf(item)))) as {
      pipeline_id: string;
    }[];
    expect(kept.map((p) => p.pipeline_id)).toEqual(['p0', 'p1', 'p2']);
  });

  it('pauses, after a retry, only the schedules still unpaused', async () => {
    // Prepare: the snapshot is stored, then the third pause is throttled past the client's retries.
    const ws = workspace();
    const store = new MemorySnapshotStore();
    ws.refusing.add('jobs/update 3');

    // Act
    const first = await stopCompute(item, deps(ws, store)).catch((e: unknown) => e);
    ws.refusing.clear();
    ws.calls = [];
    await stopCompute(item, deps(ws, store));

    // Assess: one job list, then only jobs 3 and 4 (1 and 2 were paused by the first attempt).
    expect(first).toBeInstanceOf(DatabricksThrottled);
    expect(ws.calls.filter((c) => c.startsWith('jobs/'))).toEqual([
      'jobs/list',
      'jobs/update 3',
      'jobs/update 4',
    ]);
    expect(
      ws.jobs.map((j) => (j.settings?.schedule as { pause_status?: string } | undefined)?.pause_status),
    ).toEqual(['PAUSED', 'PAUSED', 'PAUSED', 'PAUSED']);
    // The snapshot still says what ran before: every schedule was unpaused.
    const snapshot = await store.get(snapshotKeyOf(item));
    expect(snapshot?.jobs.map((j) => j.schedule?.pause_status)).toEqual([
      'UNPAUSED',
      'UNPAUSED',
      'UNPAUSED',
      'UNPAUSED',
    ]);
  });

  it('pauses a job the list does not show (a short answer never leaves a schedule running)', async () => {
    // Prepare
    const ws = workspace();
    const store = new MemorySnapshotStore();
    ws.refusing.add('jobs/update 4');
    await stopCompute(item, deps(ws, store)).catch(() => undefined);
    ws.refusing.clear();
    ws.calls = [];
    const short = api(ws);
    const shortDeps: ComputeDeps = {
      ...deps(ws, store),
      api: { ...short, listJobs: async () => (await short.listJobs()).filter((j) => j.job_id !== 4) },
    };

    // Act
    await stopCompute(item, shortDeps);

    // Assess
    expect(ws.calls.filter((c) => c.startsWith('jobs/update'))).toEqual(['jobs/update 4']);
  });
});
