import { afterEach, describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import {
  type Harness,
  type Item,
  itemFor,
  type Json,
  list,
  pathOf,
  payloads,
  restoreUntilRestored,
  startWorkspace,
  stopUntilStopped,
} from './harness.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  payloads.length = 0;
});

const KB = 1024;
// Deadlines far away: thousands of calls, each with its simulated latency, take simulated time.
const FAR_DEADLINES = { COMPUTE_STOP_TIMEOUT_MINUTES: '120', COMPUTE_RESTORE_TIMEOUT_MINUTES: '120' };
const FAST = {
  clusterTerminate: [30, 120],
  clusterStart: [60, 180],
  warehouseStop: [20, 60],
  warehouseStart: [60, 120],
  poolIdleRelease: [10, 60],
  poolIdleFill: [10, 60],
  pipelineStop: [30, 90],
  pipelineStart: [60, 120],
  runCancel: [10, 30],
  apiLatencyMs: [0, 0],
};

const schedule = (pause: string) => ({
  quartz_cron_expression: '0 0 2 * * ?',
  timezone_id: 'UTC',
  pause_status: pause,
});

/** A workspace with `n` of each kind in a realistic mix of states. */
function workspace(sizes: {
  clusters: number;
  jobs: number;
  pools: number;
  warehouses: number;
  pipelines: number;
  runs: number;
}) {
  const sources = ['UI', 'UI', 'API', 'JOB', 'UI'];
  const states = ['RUNNING', 'TERMINATED', 'RUNNING', 'TERMINATED', 'TERMINATED'];
  return {
    clusters: Array.from({ length: sizes.clusters }, (_, i) => ({
      cluster_id: `c-${i}`,
      cluster_source: sources[i % 5],
      state: states[i % 5],
      num_workers: 1,
      ...(i % 10 === 0 && sizes.pools > 0 ? { instance_pool_id: `pool-${i % sizes.pools}` } : {}),
    })),
    instancePools: Array.from({ length: sizes.pools }, (_, i) => ({
      instance_pool_id: `pool-${i}`,
      instance_pool_name: `pool ${i}`,
      min_idle_instances: i % 2,
      idle_instance_autotermination_minutes: 30,
      max_capacity: 100_000,
    })),
    warehouses: Array.from({ length: sizes.warehouses }, (_, i) => ({
      id: `wh-${i}`,
      state: i % 3 === 2 ? 'STOPPED' : 'RUNNING',
    })),
    jobs: Array.from({ length: sizes.jobs }, (_, i) => ({
      job_id: i + 1,
      settings: {
        name: `job ${i}`,
        ...(i % 5 === 0 ? { schedule: schedule('UNPAUSED') } : {}),
        ...(i % 5 === 1 ? { schedule: schedule('PAUSED') } : {}),
        ...(i % 50 === 2 ? { continuous: { pause_status: 'UNPAUSED' } } : {}),
        ...(i % 50 === 3
          ? { trigger: { pause_status: 'UNPAUSED', periodic: { interval: 1, unit: 'HOURS' } } }
          : {}),
      },
    })),
    runs: Array.from({ length: sizes.runs }, (_, i) => ({ run_id: 9000 + i, job_id: 5 * i + 1 })),
    pipelines: Array.from({ length: sizes.pipelines }, (_, i) => ({
      pipeline_id: `p-${i}`,
      state: i % 4 === 3 ? 'IDLE' : 'RUNNING',
      spec: { continuous: i % 2 === 0 },
    })),
  };
}

/** `METHOD /path` with ids folded into `{id}`, for a readable count. */
function endpoint(e: CallLogEntry): string {
  return `${e.method} ${pathOf(e).replace(/\/(wh|p)-\d+/, '/{id}')}`;
}

function countByEndpoint(entries: CallLogEntry[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of entries) if (!e.path.includes('/oidc/')) out[endpoint(e)] = (out[endpoint(e)] ?? 0) + 1;
  return out;
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe('Compute at scale', () => {
  it('keeps every step result and the item under 64 KB with 5,000 clusters and 20,000 jobs', async () => {
    h = await startWorkspace(
      workspace({ clusters: 5000, jobs: 20_000, pools: 20, warehouses: 50, pipelines: 100, runs: 10 }),
      { timings: FAST, env: FAR_DEADLINES },
    );
    const stopped = await stopUntilStopped(h, itemFor({ activeRuns: 'cancel' }));
    const restored: Item = await restoreUntilRestored(h, stopped);
    const sizes = {
      compute: JSON.stringify(stopped.compute).length,
      computeCheck: JSON.stringify(stopped.computeCheck).length,
      restore: JSON.stringify(restored.restore).length,
      restoreCheck: JSON.stringify(restored.restoreCheck).length,
      largestItem: Math.max(...payloads.map((p) => p.length)),
    };
    console.log('payload bytes at 5,000 clusters / 20,000 jobs:', sizes);
    console.log('API calls at 5,000 clusters / 20,000 jobs:', total(countByEndpoint(h.emu.callLog())));
    expect(Math.max(...Object.values(sizes))).toBeLessThan(64 * KB);
    expect(restored.restoreCheck?.status).toBe('RESTORED');
    expect(stopped.compute?.counts).toMatchObject({ clusters: 2000, jobsPaused: 4000 + 400 + 400 });
    expect(
      list(h, 'clusters').filter((c) => c.state === 'RUNNING' && c.cluster_source !== 'JOB'),
    ).toHaveLength(2000);
  }, 300_000);

  it('reads with list calls, not a get per resource, in a 100-resource workspace', async () => {
    // 40 clusters, 5 pools, 10 warehouses, 30 jobs, 5 runs, 10 pipelines
    h = await startWorkspace(
      workspace({ clusters: 40, jobs: 30, pools: 5, warehouses: 10, pipelines: 10, runs: 5 }),
      { timings: FAST },
    );
    const stopped = await stopUntilStopped(h, itemFor({ activeRuns: 'cancel' }));
    const stopCalls = countByEndpoint(h.emu.callLog());
    const mark = h.emu.callLog().length;
    await restoreUntilRestored(h, stopped);
    const restoreCalls = countByEndpoint(h.emu.callLog().slice(mark));
    console.log(
      `API calls, 100-resource workspace: stop ${total(stopCalls)}, restore ${total(restoreCalls)}`,
      {
        stop: stopCalls,
        restore: restoreCalls,
      },
    );
    const perResource = (calls: Record<string, number>) =>
      Object.entries(calls).filter(([k, n]) => k.startsWith('POST') && n > 40);
    expect(stopCalls['GET /api/2.1/clusters/get'] ?? 0).toBe(0);
    expect(restoreCalls['GET /api/2.1/clusters/get'] ?? 0).toBe(0);
    expect([...perResource(stopCalls), ...perResource(restoreCalls)]).toEqual([]);
    expect(
      list(h, 'warehouses')
        .filter((w: Json) => w.state === 'RUNNING')
        .map((w) => w.id),
    ).toHaveLength(7);
  }, 120_000);
});
