import { afterEach, describe, expect, it } from 'vitest';
import { databricksFor } from '../../lib/databricks/index.ts';
import { loadSettings } from '../../lib/settings.ts';
import {
  checkRestored,
  checkStopped,
  DEPLOYMENT,
  type Harness,
  ids,
  inVirtualTime,
  itemFor,
  type Json,
  list,
  pathOf,
  restore,
  startWorkspace,
  stop,
  stopUntilStopped,
} from '../compute/harness.ts';

/**
 * Throttling is a speed, not a failure (compute steps against the emulator, in virtual time): a call
 * Databricks keeps refusing with 429 is deferred to the next check, never reported as a failed start or
 * stop; and the repeated polls of a phase list only the kinds not yet confirmed, while the check that
 * answers STOPPED (the PATCH follows it at once) lists every kind.
 */

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const SCHEDULE = { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' };

/** Six all-purpose clusters, two warehouses, a warm pool, a scheduled job and a continuous pipeline. */
const WORKSPACE: Json = {
  clusters: Array.from({ length: 6 }, (_, i) => ({
    cluster_id: `ui-${i}`,
    cluster_source: 'UI',
    state: 'RUNNING',
    num_workers: 1,
  })),
  instancePools: [
    {
      instance_pool_id: 'pool-warm',
      instance_pool_name: 'warm',
      node_type_id: 'i3.xlarge',
      min_idle_instances: 1,
      idle_instance_autotermination_minutes: 30,
    },
  ],
  warehouses: [
    { id: 'wh-1', state: 'RUNNING', warehouse_type: 'PRO' },
    { id: 'wh-2', state: 'RUNNING', warehouse_type: 'PRO' },
  ],
  jobs: [{ job_id: 11, settings: { name: 'nightly', schedule: SCHEDULE } }],
  pipelines: [{ pipeline_id: 'p-1', state: 'RUNNING', spec: { continuous: true } }],
};

/** Every request to `path` (no query), by status. */
function statuses(h: Harness, path: RegExp): number[] {
  return h.emu
    .callLog()
    .filter((e) => path.test(pathOf(e).replace(/^\/ws\/[^/]+/, '')))
    .map((e) => e.status);
}

/** The list endpoints read since call-log entry `from`, counted. */
function listsSince(h: Harness, from: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of h.emu.callLog().slice(from)) {
    if (e.method !== 'GET') continue;
    const path = pathOf(e).replace(/^\/ws\/[^/]+/, '');
    out[path] = (out[path] ?? 0) + 1;
  }
  return out;
}

describe('throttled starts and stops are deferred, not failed', () => {
  it('restore-compute defers starts Databricks keeps throttling, starts the other kinds, and fails nothing', async () => {
    // Prepare: every clusters/start answers 429 (Retry-After 5 s) for far longer than a step can wait
    h = await startWorkspace(WORKSPACE, {
      faults: [
        { method: 'POST', path: '/api/2.1/clusters/start', status: 429, retryAfterSeconds: 5, times: 10_000 },
      ],
    });
    const stopped = await stopUntilStopped(h, itemFor());

    // Act
    const restored = await restore(stopped);

    // Assess
    expect(restored.restore).toMatchObject({ failed: [], failedCount: 0, throttledKinds: ['cluster'] });
    expect(restored.restore?.deferred).toBeGreaterThanOrEqual(1);
    expect(restored.restore?.started).toMatchObject({ warehouses: 2, pipelines: 1, pools: 1, jobs: 1 });
    // Only refused starts, and after the first round (sent before the first 429 came back) no more than
    // one per Retry-After: none went out into a window Databricks had closed.
    const starts = h.emu.callLog().filter((e) => pathOf(e).endsWith('/clusters/start'));
    const span = (starts.at(-1)?.t ?? 0) - (starts[0]?.t ?? 0);
    expect(starts.every((e) => e.status === 429)).toBe(true);
    expect(starts.length).toBeLessThanOrEqual(Math.floor(span / 5) + 1 + 6);
  }, 60_000);

  it('check-compute-restored keeps waiting while starts are throttled, then restores everything', async () => {
    // Prepare: 40 refusals in all, then Databricks accepts starts again
    h = await startWorkspace(WORKSPACE, {
      faults: [
        { method: 'POST', path: '/api/2.1/clusters/start', status: 429, retryAfterSeconds: 5, times: 40 },
      ],
    });
    const stopped = await stopUntilStopped(h, itemFor());
    let item = await restore(stopped);
    const first = item.restore;

    // Act: the restore loop as the state machine runs it
    h.emu.clock.advance(20);
    item = await checkRestored(item);
    const waiting = item.restoreCheck;
    for (let turn = 0; turn < 200 && item.restoreCheck?.status !== 'RESTORED'; turn++) {
      h.emu.clock.advance(20);
      item = await checkRestored(item);
    }
    const done = item;

    // Assess: a throttled start is not a failure (no `retrying` entry, no ComputeNotRestored)
    expect(first?.failedCount).toBe(0);
    expect(waiting).toMatchObject({ status: 'WAITING', retrying: [] });
    expect(done.restoreCheck?.status).toBe('RESTORED');
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toHaveLength(6);
    // The 40 refusals, plus at most the first round sent before the first 429 came back.
    const refused = statuses(h, /\/clusters\/start$/).filter((s) => s === 429).length;
    expect(refused).toBeGreaterThanOrEqual(40);
    expect(refused).toBeLessThanOrEqual(40 + 6);
  }, 120_000);

  it('stop-compute defers stops Databricks keeps throttling; the checks stop them without calling them "back"', async () => {
    // Prepare: clusters/delete refused 60 times, one every 10 s (longer than the first step can wait)
    h = await startWorkspace(WORKSPACE, {
      faults: [
        { method: 'POST', path: '/api/2.1/clusters/delete', status: 429, retryAfterSeconds: 10, times: 60 },
      ],
    });

    // Act: the stop loop as the state machine runs it
    let item = await stop(itemFor());
    const first = item.compute;
    for (let turn = 0; turn < 200; turn++) {
      h.emu.clock.advance(15);
      item = await checkStopped(item);
      if (item.computeCheck?.status !== 'STOPPED') continue;
      item = await checkStopped(item);
      if (item.computeCheck?.status === 'STOPPED') break;
    }

    // Assess
    expect(first?.deferred).toBeGreaterThanOrEqual(1);
    expect(item.computeCheck).toMatchObject({ status: 'STOPPED', restartedCount: 0 });
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING', 'PENDING', 'TERMINATING'])).toEqual([]);
    expect(statuses(h, /\/clusters\/delete$/).filter((s) => s === 429).length).toBeGreaterThanOrEqual(60);
  }, 120_000);

  it('a stop check whose reads are throttled decides nothing: STOPPING, never STOPPED, and no failure', async () => {
    // Prepare
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());
    // The same workspace again, now answering every cluster list with 429 (the snapshot store is in memory).
    await h.close();
    h = await startWorkspace(
      { ...WORKSPACE, clusters: [] },
      {
        faults: [
          {
            method: 'GET',
            path: '/api/2.1/clusters/list',
            status: 429,
            retryAfterSeconds: 30,
            times: 10_000,
          },
        ],
      },
    );

    // Act: a check after a STOPPED answer (previous status STOPPED: after a PATCH Databricks refused)
    const recheck = await checkStopped(stopped);

    // Assess
    expect(recheck.computeCheck).toMatchObject({ status: 'STOPPING', throttled: true });
  }, 120_000);
});

describe('fewer calls: polls skip what is confirmed, the guard sees every kind', () => {
  it('a stopping poll lists only the kinds not yet seen stopped; the poll that answers STOPPED lists all', async () => {
    // Prepare
    h = await startWorkspace(WORKSPACE);
    let item = await stop(itemFor());
    h.emu.clock.advance(15);
    item = await checkStopped(item);
    const confirmed = item.computeCheck?.confirmed ?? [];

    // Act: the loop's polls as the state machine runs them, until one answers STOPPED (the PATCH follows)
    const polls: Array<{
      status: string | undefined;
      skipped: readonly string[];
      lists: Record<string, number>;
    }> = [];
    do {
      const skipped = item.computeCheck?.confirmed ?? [];
      h.emu.clock.advance(15);
      const mark = h.emu.callLog().length;
      item = await checkStopped(item);
      polls.push({ status: item.computeCheck?.status, skipped, lists: listsSince(h, mark) });
    } while (item.computeCheck?.status !== 'STOPPED');

    // Assess
    expect(confirmed.length).toBeGreaterThan(0);
    const ALL = [
      '/api/2.0/instance-pools/list',
      '/api/2.0/pipelines',
      '/api/2.0/sql/warehouses',
      '/api/2.1/clusters/list',
      '/api/2.2/jobs/runs/list',
    ];
    const LIST_OF: Record<string, string> = {
      warehouses: '/api/2.0/sql/warehouses',
      runs: '/api/2.2/jobs/runs/list',
      pools: '/api/2.0/instance-pools/list',
      pipelines: '/api/2.0/pipelines',
    };
    for (const poll of polls.filter((p) => p.status === 'STOPPING'))
      for (const kind of poll.skipped)
        if (LIST_OF[kind]) expect(Object.keys(poll.lists)).not.toContain(LIST_OF[kind]);
    // The STOPPED answer rests on a look at every kind, made in that same check
    expect(Object.keys(polls.at(-1)?.lists ?? {}).sort()).toEqual(ALL);
  }, 120_000);

  it('a warehouse restarted after its kind was confirmed is caught by the poll that would answer STOPPED', async () => {
    // Prepare: poll until the warehouses are confirmed stopped while clusters still terminate
    h = await startWorkspace(WORKSPACE, { timings: { clusterTerminate: [120, 120] } });
    let item = await stop(itemFor());
    do {
      h.emu.clock.advance(15);
      item = await checkStopped(item);
    } while (!(item.computeCheck?.confirmed ?? []).includes('warehouses'));
    expect(item.computeCheck?.status).toBe('STOPPING');
    // A query auto-starts wh-1 again; then the clusters end.
    await inVirtualTime(() => databricksFor(loadSettings()).workspace(DEPLOYMENT).startWarehouse('wh-1'));
    h.emu.clock.advance(150);

    // Act: the next poll skips the confirmed warehouses, finds the clusters gone — and looks at every kind
    // before it answers
    item = await checkStopped(item);

    // Assess: seen, stopped again and counted as back; not STOPPED, so no PATCH yet
    expect(item.computeCheck?.status).toBe('STOPPING');
    expect(item.computeCheck?.restartedDuringWindow.map((r) => r.id)).toEqual(['wh-1']);
    expect(item.computeCheck?.confirmed).not.toContain('warehouses');
  }, 120_000);

  it('a cluster started after a STOPPED answer is caught by the next check (after a PATCH Databricks refused)', async () => {
    // Prepare: the stop loop until it says STOPPED
    h = await startWorkspace(WORKSPACE);
    let item = await stop(itemFor());
    do {
      h.emu.clock.advance(15);
      item = await checkStopped(item);
    } while (item.computeCheck?.status !== 'STOPPED');
    // A user starts ui-0 again after that answer.
    await inVirtualTime(() => databricksFor(loadSettings()).workspace(DEPLOYMENT).startCluster('ui-0'));

    // Act: the check the refused PATCH sends the rotation back to (previous status STOPPED)
    item = await checkStopped(item);

    // Assess: seen, stopped again and counted as back; the loop starts over
    expect(item.computeCheck?.status).toBe('STOPPING');
    expect(item.computeCheck?.restartedDuringWindow.map((r) => r.id)).toEqual(['ui-0']);
    expect(item.computeCheck?.confirmed).not.toContain('clusters');
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING', 'PENDING'])).toEqual([]);
  }, 120_000);

  it('restore checks do not list again the kinds restore-compute or an earlier check saw restored', async () => {
    // Prepare
    h = await startWorkspace(WORKSPACE);
    const stopped = await stopUntilStopped(h, itemFor());

    // Act
    let item = await restore(stopped);
    const mark = h.emu.callLog().length;
    item = await checkRestored(item);
    const firstCheck = listsSince(h, mark);
    while (item.restoreCheck?.status !== 'RESTORED') {
      h.emu.clock.advance(20);
      item = await checkRestored(item);
    }

    // Assess: pool settings and job schedules were put back by calls that take effect at once
    expect(item.restore?.confirmed).toEqual(expect.arrayContaining(['pool', 'job']));
    expect(Object.keys(firstCheck)).not.toContain('/api/2.0/instance-pools/list');
    expect(Object.keys(firstCheck)).not.toContain('/api/2.2/jobs/list');
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toHaveLength(6);
    expect(list(h, 'jobs').map((j) => (j.settings as Json).schedule)).toEqual([SCHEDULE]);
  }, 120_000);
});
