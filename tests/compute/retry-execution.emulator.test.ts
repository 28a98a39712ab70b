import { afterEach, describe, expect, it } from 'vitest';
import { type ComputeSnapshot, snapshotKeyOf, snapshotStoreFor } from '../../lib/compute/index.ts';
import { openSnapshotKeyOf } from '../../lib/compute/snapshot-store.ts';
import { loadSettings } from '../../lib/settings.ts';
import {
  type Harness,
  ids,
  itemFor,
  list,
  restoreUntilRestored,
  startWorkspace,
  stopUntilStopped,
  WS,
} from './harness.ts';

/**
 * DESIGN §6.4 and the runbook: a failed rotation is retried by a NEW execution (Step Functions' redrive would
 * re-run nothing, because a failed workspace ends its Map iteration normally after compensation). A new
 * execution must not take a stopped workspace for one where nothing runs: it honours the snapshot an earlier
 * execution left open.
 */
describe('A new execution after one that left compute stopped', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('restores what ran before the first execution, not only what runs now', async () => {
    h = await startWorkspace({
      clusters: [
        { cluster_id: 'etl', cluster_source: 'UI', state: 'RUNNING' },
        { cluster_id: 'idle', cluster_source: 'UI', state: 'TERMINATED' },
      ],
      warehouses: [{ id: 'wh', state: 'RUNNING' }],
      jobs: [
        {
          job_id: 7,
          settings: {
            schedule: { quartz_cron_expression: '0 0 * * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
          },
        },
      ],
    });
    const store = snapshotStoreFor(loadSettings());
    // The first execution stops everything and dies before restoring (aborted, timed out, compensation failed).
    const first = itemFor();
    await stopUntilStopped(h, first);
    expect(await store.getDocument(openSnapshotKeyOf(WS))).toMatchObject({
      snapshotKey: snapshotKeyOf(first),
    });
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual([]);

    // A new execution of the same rotation: its own snapshot sees nothing running, but inherits the first.
    const second = await stopUntilStopped(h, itemFor());
    const snapshot = (await store.get(snapshotKeyOf(second))) as ComputeSnapshot;
    expect(snapshot.inherited).toEqual([snapshotKeyOf(first)]);
    await restoreUntilRestored(h, second);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['etl']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh']);
    const job = list(h, 'jobs').find((j) => j.job_id === 7) as {
      settings: { schedule: { pause_status: string } };
    };
    expect(job.settings.schedule.pause_status).toBe('UNPAUSED');
    // Everything is back: the workspace no longer has an open snapshot.
    expect(await store.getDocument(openSnapshotKeyOf(WS))).toBeUndefined();
  });

  it('starts clean when the earlier execution restored everything', async () => {
    h = await startWorkspace({ clusters: [{ cluster_id: 'etl', cluster_source: 'UI', state: 'RUNNING' }] });
    const store = snapshotStoreFor(loadSettings());
    await restoreUntilRestored(h, await stopUntilStopped(h, itemFor()));
    expect(await store.getDocument(openSnapshotKeyOf(WS))).toBeUndefined();
    const second = await stopUntilStopped(h, itemFor());
    const snapshot = (await store.get(snapshotKeyOf(second))) as ComputeSnapshot;
    expect(snapshot.inherited).toBeUndefined();
  });
});

describe('Back from a key change Databricks refused because compute ran', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('gives the stop a fresh deadline instead of failing at the original one', async () => {
    h = await startWorkspace(
      { clusters: [{ cluster_id: 'etl', cluster_source: 'UI', state: 'RUNNING' }] },
      { timings: { clusterTerminate: [600, 600] } },
    );
    const stopped = await stopUntilStopped(h, itemFor());
    // Long after the original stop deadline, someone starts the cluster and Databricks refuses the PATCH.
    h.emu.clock.advance(3 * 3600);
    const now = h.emu.clock.now();
    const back = {
      ...stopped,
      compute: stopped.compute && { ...stopped.compute, deadline: now - 1 },
      computeCheck: stopped.computeCheck && { ...stopped.computeCheck, deadline: now - 1 },
      update: {
        patched: false,
        fields: [],
        sentFields: [],
        patchedAt: now,
        deadline: now,
        refused: { attempts: 1, message: 'compute runs' },
      },
    };
    const { handler } = await import('../../functions/check-compute-stopped.ts');
    const { invoke, inVirtualTime } = await import('./harness.ts');
    const { databricksFor } = await import('../../lib/databricks/index.ts');
    await inVirtualTime(() => databricksFor(loadSettings()).workspace('acme-prod').startCluster('etl'));
    h.emu.clock.advance(30);
    // Stopped again, it takes 10 minutes to terminate: stopping goes on, it does not fail with ComputeDidNotStop.
    const result = await invoke<{ status: string; deadline: number }>(handler, back);
    expect(result.status).toBe('STOPPING');
    expect(result.deadline).toBeGreaterThan(now);
  });
});
