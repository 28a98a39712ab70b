import { afterEach, describe, expect, it } from 'vitest';
import { clock } from '../../lib/clock.ts';
import { type ComputeDeps, computeDeps } from '../../lib/compute/deps.ts';
import { SnapshotUnreadable } from '../../lib/compute/errors.ts';
import type { RestoreCheckResult, RestoreResult } from '../../lib/compute/model.ts';
import { checkComputeRestored, describeNotRestored, restoreCompute } from '../../lib/compute/restore.ts';
import { type SnapshotStore, snapshotStoreFor } from '../../lib/compute/snapshot-store.ts';
import type { WorkspaceApi } from '../../lib/databricks/api.ts';
import { DatabricksApiError, DatabricksUnavailable } from '../../lib/databricks/errors.ts';
import { TransientError } from '../../lib/errors.ts';
import { loadSettings } from '../../lib/settings.ts';
import {
  type Harness,
  type Item,
  ids,
  inVirtualTime,
  itemFor,
  type Json,
  list,
  startWorkspace,
  stopUntilStopped,
} from './harness.ts';

/**
 * Issue 14 point 7: a restore that meets a transient fault — S3 throttling the snapshot, a Databricks list
 * answering 503 — keeps trying until its restore deadline instead of giving up within the Task's own
 * retries, and one unreadable list holds up nothing else.
 */

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const WORKSPACE = {
  clusters: [
    { cluster_id: 'etl', cluster_source: 'UI', state: 'RUNNING' },
    { cluster_id: 'api', cluster_source: 'API', state: 'RUNNING' },
  ],
  instancePools: [
    {
      instance_pool_id: 'pool',
      instance_pool_name: 'pool',
      node_type_id: 'i3.xlarge',
      min_idle_instances: 1,
      idle_instance_autotermination_minutes: 30,
    },
  ],
  warehouses: [{ id: 'wh', state: 'RUNNING', warehouse_type: 'PRO' }],
  jobs: [
    {
      job_id: 7,
      settings: {
        name: 'nightly',
        schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
      },
    },
  ],
  pipelines: [{ pipeline_id: 'pipe', state: 'RUNNING', spec: { continuous: true } }],
};

/** The process's snapshot store, whose next `failures` reads answer like S3 SlowDown (`TransientError`). */
function flakyStore(failures: number, error: () => Error = slowDown): SnapshotStore & { reads: number } {
  const store = snapshotStoreFor(loadSettings());
  let left = failures;
  const fail = () => {
    if (left <= 0) return;
    left--;
    throw error();
  };
  const flaky = {
    reads: 0,
    putIfAbsent: store.putIfAbsent.bind(store),
    putDocument: store.putDocument.bind(store),
    deleteDocument: store.deleteDocument.bind(store),
    locate: store.locate.bind(store),
    get: async (key: string) => {
      flaky.reads++;
      fail();
      return store.get(key);
    },
    getDocument: async (key: string) => {
      flaky.reads++;
      fail();
      return store.getDocument(key);
    },
  };
  return flaky;
}

const slowDown = () =>
  new TransientError(
    'S3 SlowDown (HTTP 503) while reading s3://snapshots/x: Please reduce your request rate',
  );

/** The workspace's API whose `jobs/list` answers 503 until `until` (epoch ms on the run's clock). */
function jobsUnavailableUntil(api: WorkspaceApi, until: number): WorkspaceApi {
  return new Proxy(api, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (name !== 'listJobs') return typeof value === 'function' ? value.bind(target) : value;
      return async () => {
        if (clock().now() < until) {
          throw new DatabricksUnavailable(
            {
              method: 'GET',
              endpoint: '/api/2.2/jobs/list',
              target: 'workspace acme-prod',
              status: 503,
              errorCode: 'TEMPORARILY_UNAVAILABLE',
              apiMessage: 'jobs service unavailable',
              attempts: 5,
            },
            { retryable: true },
          );
        }
        return target.listJobs();
      };
    },
  });
}

function depsFor(item: Item, over: Partial<ComputeDeps> = {}): ComputeDeps {
  return { ...computeDeps(item, { settings: loadSettings(), clock: clock() }), ...over };
}

/** The restore loop of the state machine, on lib calls: Restore → (Wait 20 s → Check) until RESTORED. */
async function restoreLoop(
  harness: Harness,
  start: Item,
  deps: () => ComputeDeps,
  maxChecks = 200,
): Promise<{ item: Item; checks: RestoreCheckResult[] }> {
  const restore = await inVirtualTime(() => restoreCompute(start, deps()));
  let item: Item = { ...start, restore };
  const checks: RestoreCheckResult[] = [];
  for (let i = 0; i < maxChecks; i++) {
    harness.emu.clock.advance(20);
    const restoreCheck = await inVirtualTime(() =>
      checkComputeRestored(item as Item & { restore: RestoreResult }, deps()),
    );
    checks.push(restoreCheck);
    item = { ...item, restoreCheck };
    if (restoreCheck.status === 'RESTORED') return { item, checks };
  }
  throw new Error('compute never came back');
}

/** The schedule of job 7 as the workspace has it now. */
function schedule(harness: Harness): Json {
  const job = list(harness, 'jobs').find((j) => j.job_id === 7);
  return ((job?.settings as Json | undefined)?.schedule ?? {}) as Json;
}

describe('Restore waits out a snapshot store that does not answer', () => {
  it('returns a WAITING-style result when the snapshot cannot be read, and the checks restore everything', async () => {
    // Prepare: everything stopped; then S3 throttles the next 6 reads (restore-compute and the first checks)
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const store = flakyStore(6);
    // Act
    const { item, checks } = await restoreLoop(h, stopped, () => depsFor(stopped, { store }));
    // Assess
    expect(item.restore).toMatchObject({ snapshotUnread: true, nothingToRestore: false, failedCount: 0 });
    expect(item.restore?.snapshotKey).toBe(stopped.compute?.snapshotKey);
    expect(checks.some((c) => c.status === 'WAITING' && c.snapshotUnread)).toBe(true);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['api', 'etl']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh']);
    expect(ids(list(h, 'pipelines'), 'pipeline_id', ['RUNNING'])).toEqual(['pipe']);
    expect(schedule(h).pause_status).toBe('UNPAUSED');
  });

  it('still fails at once when the snapshot is unreadable for good (access denied, corrupt)', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const store = flakyStore(
      100,
      () => new SnapshotUnreadable('S3 AccessDenied (HTTP 403) while reading s3://snapshots/x'),
    );
    await expect(inVirtualTime(() => restoreCompute(stopped, depsFor(stopped, { store })))).rejects.toThrow(
      SnapshotUnreadable,
    );
  });

  it('names every resource with ComputeNotRestored when the snapshot stays unreadable past the deadline', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const store = flakyStore(10_000);
    const restore = await inVirtualTime(() => restoreCompute(stopped, depsFor(stopped, { store })));
    let item: Item = { ...stopped, restore };
    let error: unknown;
    for (let i = 0; i < 400 && !error; i++) {
      h.emu.clock.advance(20);
      try {
        const restoreCheck = await inVirtualTime(() =>
          checkComputeRestored(item as Item & { restore: RestoreResult }, depsFor(stopped, { store })),
        );
        expect(restoreCheck.status).toBe('WAITING');
        item = { ...item, restoreCheck };
      } catch (e) {
        error = e;
      }
    }
    // Not before the restore deadline, and saying where the snapshot is.
    expect(h.emu.clock.now()).toBeGreaterThan(restore.deadline);
    expect((error as Error).name).toBe('ComputeNotRestored');
    expect((error as Error).message).toMatch(/could not be read by the restore deadline/);
    expect((error as Error).message).toContain(restore.snapshotKey);
  });
});

describe('Restore reads each kind on its own', () => {
  it('restores everything else at once while jobs/list answers 503, and the schedules once it answers', async () => {
    // Prepare: jobs/list is unavailable for 7 minutes from the start of the restore
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const until = h.emu.clock.now() + 7 * 60_000;
    const deps = () => {
      const base = depsFor(stopped);
      return { ...base, api: jobsUnavailableUntil(base.api, until) };
    };
    // Act
    const restore = await inVirtualTime(() => restoreCompute(stopped, deps()));
    const { item, checks } = await restoreLoop(h, stopped, deps);
    // Assess: the first restore-compute started everything but the schedule, which it left to the checks
    expect(restore.started).toMatchObject({ clusters: 2, warehouses: 1, pipelines: 1, pools: 1, jobs: 0 });
    expect(restore.confirmed ?? []).not.toContain('job');
    expect(restore.deferred).toBe(1);
    const waiting = checks.filter((c) => c.status === 'WAITING');
    expect(waiting.some((c) => c.unreadKinds?.includes('job'))).toBe(true);
    expect(item.restoreCheck?.status).toBe('RESTORED');
    expect(h.emu.clock.now()).toBeGreaterThan(until);
    expect(schedule(h).pause_status).toBe('UNPAUSED');
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['api', 'etl']);
  });

  it('names the schedule with its last error when jobs/list is still unavailable at the deadline', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const deps = () => {
      const base = depsFor(stopped);
      return { ...base, api: jobsUnavailableUntil(base.api, Number.POSITIVE_INFINITY) };
    };
    const restore = await inVirtualTime(() => restoreCompute(stopped, deps()));
    let item: Item = { ...stopped, restore };
    let error: unknown;
    for (let i = 0; i < 400 && !error; i++) {
      h.emu.clock.advance(20);
      try {
        const restoreCheck = await inVirtualTime(() =>
          checkComputeRestored(item as Item & { restore: RestoreResult }, deps()),
        );
        item = { ...item, restoreCheck };
      } catch (e) {
        error = e;
      }
    }
    expect(h.emu.clock.now()).toBeGreaterThan(restore.deadline);
    expect((error as Error).name).toBe('ComputeNotRestored');
    expect((error as Error).message).toMatch(/jobs: 7 \(state unknown: HTTP 503 TEMPORARILY_UNAVAILABLE/);
    // Only the schedule: everything else came back meanwhile.
    expect((error as Error).message).not.toMatch(/etl|wh|pipe|pool/);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['api', 'etl']);
  });

  it('still fails at once on a list Databricks refuses for good (403)', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const base = depsFor(stopped);
    const api = new Proxy(base.api, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver);
        if (name !== 'listWarehouses') return typeof value === 'function' ? value.bind(target) : value;
        return async () => {
          throw new DatabricksApiError({
            method: 'GET',
            endpoint: '/api/2.0/sql/warehouses',
            target: 'workspace acme-prod',
            status: 403,
            errorCode: 'PERMISSION_DENIED',
            apiMessage: 'not an admin',
            attempts: 1,
          });
        };
      },
    });
    await expect(inVirtualTime(() => restoreCompute(stopped, { ...base, api }))).rejects.toThrow(
      /403 PERMISSION_DENIED/,
    );
  });
});

describe('The report of what is still stopped', () => {
  it('asks S3 again for a snapshot it throttles before saying it could not be read', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const store = flakyStore(4);
    const report = await inVirtualTime(() => describeNotRestored(stopped, depsFor(stopped, { store })));
    expect(report.summary).not.toMatch(/could not be read/);
    expect(report.summary).toMatch(/still stopped: .*clusters: etl.*api/);
    expect(report.summary).toMatch(/schedules still paused: jobs: 7/);
    expect(store.reads).toBeGreaterThan(4);
  });

  it('says the snapshot could not be read once S3 keeps refusing, without waiting forever', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const store = flakyStore(10_000);
    const before = h.emu.clock.now();
    const report = await inVirtualTime(() => describeNotRestored(stopped, depsFor(stopped, { store })));
    expect(report.summary).toMatch(/could not be read \(TransientError: S3 SlowDown/);
    expect(store.reads).toBe(6);
    expect(h.emu.clock.now() - before).toBeLessThan(2 * 60_000);
  });

  it('names the kinds it cannot read as of unknown state and the others as they are', async () => {
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    const base = depsFor(stopped);
    const api = jobsUnavailableUntil(base.api, Number.POSITIVE_INFINITY);
    const report = await inVirtualTime(() => describeNotRestored(stopped, { ...base, api }));
    expect(report.summary).toMatch(/still stopped: .*clusters: etl \(TERMINATED\)/);
    expect(report.summary).toMatch(/jobs: 7 \(state unknown: HTTP 503/);
  });
});
