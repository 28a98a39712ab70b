import { afterEach, describe, expect, it } from 'vitest';
import { handler as checkComputeRestored } from '../../functions/check-compute-restored.ts';
import { handler as reportComputeNotRestored } from '../../functions/report-compute-not-restored.ts';
import { handler as restoreComputeStep } from '../../functions/restore-compute.ts';
import { SnapshotMismatch } from '../../lib/compute/errors.ts';
import { type ComputeSnapshot, type RestoreResult, snapshotKeyOf } from '../../lib/compute/model.ts';
import { openPointerOf, openSnapshotKeyOf, snapshotStoreFor } from '../../lib/compute/snapshot-store.ts';
import { loadSettings } from '../../lib/settings.ts';
import {
  type Harness,
  type Item,
  ids,
  invoke,
  itemFor,
  list,
  restore,
  restoreUntilRestored,
  startWorkspace,
  stopUntilStopped,
  WS,
} from './harness.ts';

/**
 * DESIGN §6.4: an execution that fails before its own stop (key policy, key configuration) has no snapshot of
 * its own; when an earlier execution left the workspace's compute stopped (its open pointer), the
 * compensation restores that snapshot instead of reporting "nothing to restore" — which the execution's
 * error would turn into "compute restored to its pre-rotation state" while it is still down.
 */

const store = () => snapshotStoreFor(loadSettings());

let h: Harness | undefined;
afterEach(async () => {
  // Every test starts without an open snapshot for the workspace (the in-memory store outlives a test).
  if (h) await store().deleteDocument(openSnapshotKeyOf(WS));
  await h?.close();
  h = undefined;
});

const WORKSPACE = {
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
};

const START_FAILS = {
  method: 'POST',
  path: '/api/2.1/clusters/start',
  status: 400,
  error_code: 'INVALID_PARAMETER_VALUE',
  message: 'capacity',
  times: 100_000,
};

describe('A compensation that stopped nothing itself', () => {
  it('restores what an earlier execution left stopped, and closes its open snapshot', async () => {
    // Prepare: the first execution stops everything and dies before restoring
    h = await startWorkspace(WORKSPACE);
    const first = itemFor();
    await stopUntilStopped(h, first);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual([]);
    // Act: the second fails before its stop (no `compute`) and compensates
    const second = itemFor();
    const done = await restoreUntilRestored(h, second);
    // Assess
    expect(done.restore).toMatchObject({
      nothingToRestore: false,
      snapshotKey: snapshotKeyOf(first),
      snapshotExecutionId: first.executionId,
    });
    expect(done.restoreCheck?.status).toBe('RESTORED');
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['etl']);
    expect(ids(list(h, 'warehouses'), 'id', ['RUNNING'])).toEqual(['wh']);
    const job = list(h, 'jobs').find((j) => j.job_id === 7) as {
      settings: { schedule: { pause_status: string } };
    };
    expect(job.settings.schedule.pause_status).toBe('UNPAUSED');
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBeUndefined();
  });

  it('names what the earlier execution left stopped when it cannot bring it back', async () => {
    h = await startWorkspace(WORKSPACE, { faults: [START_FAILS] });
    const first = itemFor();
    await stopUntilStopped(h, first);
    const second: Item = itemFor();
    let item = await restore(second);
    let error: unknown;
    for (let i = 0; i < 400 && !error; i++) {
      h.emu.clock.advance(20);
      try {
        item = { ...item, restoreCheck: await invoke(checkComputeRestored, item) };
      } catch (e) {
        error = e;
      }
    }
    expect((error as Error).name).toBe('ComputeNotRestored');
    expect((error as Error).message).toMatch(/clusters: etl \(.*capacity/);
    expect((error as Error).message).toContain(snapshotKeyOf(first));
    // The report path names it too, and whose snapshot it is; the snapshot stays open for the next one.
    const report = await invoke<{ summary: string }>(reportComputeNotRestored, item);
    expect(report.summary).toMatch(/still stopped: clusters: etl/);
    expect(report.summary).toContain(`left stopped by execution ${first.executionId}`);
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBe(snapshotKeyOf(first));
  });

  it('still has nothing to restore when no execution left anything open', async () => {
    h = await startWorkspace(WORKSPACE);
    await restoreUntilRestored(h, await stopUntilStopped(h, itemFor()));
    const result = await invoke<RestoreResult>(restoreComputeStep, itemFor());
    expect(result).toMatchObject({ nothingToRestore: true, failed: [] });
    expect(result.snapshotExecutionId).toBeUndefined();
  });

  it('refuses a pointer that names another workspace’s snapshot, restoring nothing', async () => {
    h = await startWorkspace(WORKSPACE);
    const elsewhere = { executionId: 'other-exec', workspace: { workspaceId: 99 } };
    const key = snapshotKeyOf(elsewhere);
    const foreign: ComputeSnapshot = {
      version: 1,
      executionId: 'other-exec',
      workspaceId: 99,
      deploymentName: 'acme-dev',
      takenAt: 1,
      clusters: [{ cluster_id: 'etl', state: 'RUNNING', cluster_source: 'UI' }],
      pools: [],
      warehouses: [],
      jobs: [],
      runs: [],
      pipelines: [],
    };
    await store().putIfAbsent(key, foreign);
    await store().putDocument(openSnapshotKeyOf(WS), { snapshotKey: key, workspaceId: WS });
    await expect(invoke(restoreComputeStep, itemFor())).rejects.toThrow(SnapshotMismatch);
    expect(h.emu.callLog().filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'))).toEqual([]);
  });

  it('closes the earlier open snapshot once a restore that inherited it is complete', async () => {
    // The second execution's snapshot inherited the first's, but its pointer was never written (it failed
    // between the snapshot and the pointer): everything the first stopped comes back with the second.
    h = await startWorkspace(WORKSPACE);
    const first = itemFor();
    await stopUntilStopped(h, first);
    const second = await stopUntilStopped(h, itemFor());
    const pointer = { snapshotKey: snapshotKeyOf(first), executionId: first.executionId, workspaceId: WS };
    await store().putDocument(openSnapshotKeyOf(WS), pointer);
    await restoreUntilRestored(h, second);
    expect(ids(list(h, 'clusters'), 'cluster_id', ['RUNNING'])).toEqual(['etl']);
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBeUndefined();
  });
});

describe('openPointerOf', () => {
  it('gives the key of the snapshot a workspace’s compute is stopped under, and nothing once it is back', async () => {
    h = await startWorkspace(WORKSPACE);
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBeUndefined();
    const item = itemFor();
    const stopped = await stopUntilStopped(h, item);
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBe(snapshotKeyOf(item));
    await restoreUntilRestored(h, stopped);
    expect((await openPointerOf(WS, store()))?.snapshotKey).toBeUndefined();
  });
});
