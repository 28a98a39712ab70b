import { describe, expect, it } from 'vitest';
import type { ComputeDeps } from '../../lib/compute/deps.ts';
import { type StopCheckItem, snapshotKeyOf } from '../../lib/compute/model.ts';
import { MemorySnapshotStore } from '../../lib/compute/snapshot-store.ts';
import { checkComputeStopped } from '../../lib/compute/stop.ts';
import { quietWorkspace } from './fakes.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * DESIGN §6.5: after a storage key is added nothing starts for the storage wait, counted from when the key
 * took effect — the earliest evidence of it. The main path's guard and recovery's guard ("Keep compute
 * stopped before restoring") end the same wait: a failure near its end is not followed by a whole second
 * wait (which outgrew the execution's 25,000 history events at a day-long wait). A failure while the
 * workspace was still PROVISIONING, never seen RUNNING on the new key, waits the whole wait from settling.
 */

const WS = 42;
const MINUTE = 60_000;
const WAIT_MINUTES = 1440;
const T0 = 1_800_000_000_000;

const api = quietWorkspace;

async function guardAt(
  now: number,
  seen: Pick<StopCheckItem, 'workspaceCheck' | 'settled'>,
): Promise<{ storageWaitUntil?: number | undefined; storageWaitOver?: boolean | undefined }> {
  const executionId = 'exec';
  const snapshotKey = snapshotKeyOf({ executionId, workspace: { workspaceId: WS } });
  const store = new MemorySnapshotStore();
  await store.putIfAbsent(snapshotKey, {
    version: 1,
    executionId,
    workspaceId: WS,
    deploymentName: 'fake',
    takenAt: T0 - 60 * MINUTE,
    clusters: [],
    pools: [],
    warehouses: [],
    jobs: [],
    runs: [],
    pipelines: [],
  });
  const deps: ComputeDeps = {
    api,
    store,
    settings: { apiConcurrency: 4, computeStopTimeoutMinutes: 30, computeRestoreTimeoutMinutes: 30 },
    now: () => now,
  };
  const item: StopCheckItem = {
    executionId,
    workspace: {
      workspaceId: WS,
      workspaceName: 'prod',
      deploymentName: 'fake',
      region: 'us-east-1',
      current: { managedServicesKeyConfigId: 'cfg-old', storageKeyConfigId: null },
      changes: { managedServices: true, storage: true },
      storageAdded: true,
      steps: [],
    },
    target: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/new', keyId: 'new', region: 'us-east-1' },
    useCases: ['MANAGED_SERVICES', 'STORAGE'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'cancel',
    drainTimeoutMinutes: 60,
    emergency: false,
    storageWaitSeconds: WAIT_MINUTES * 60,
    compute: {
      snapshotKey,
      phase: 'stopping',
      counts: { clusters: 0, pools: 0, warehouses: 0, jobsPaused: 0, runs: 0, pipelines: 0 },
      deadline: T0,
    },
    ...seen,
  };
  return checkComputeStopped(item, deps, { guard: true });
}

describe('checkComputeStopped guarding the storage wait: when the wait began', () => {
  it('counts from when the main path first saw the workspace running on the new key', async () => {
    // Act
    const result = await guardAt(T0 + 10 * MINUTE, { workspaceCheck: { status: 'RUNNING', runningAt: T0 } });
    // Assess
    expect(result.storageWaitUntil).toBe(T0 + WAIT_MINUTES * MINUTE);
    expect(result.storageWaitOver).toBe(false);
  });

  it('in recovery after a failure near the end of the wait, waits only what is left of it', async () => {
    // Prepare: the main path saw it running at T0; recovery saw it settled 1,430 minutes later
    const seen = {
      workspaceCheck: { status: 'RUNNING', runningAt: T0 },
      settled: { status: 'SETTLED', settledAt: T0 + 1430 * MINUTE },
    };
    // Act
    const before = await guardAt(T0 + 1435 * MINUTE, seen);
    const after = await guardAt(T0 + WAIT_MINUTES * MINUTE, seen);
    // Assess
    expect(before.storageWaitUntil).toBe(T0 + WAIT_MINUTES * MINUTE);
    expect(before.storageWaitOver).toBe(false);
    expect(after.storageWaitOver).toBe(true);
  });

  it('in recovery after a failure before the workspace ran on the new key, waits the whole wait from settling', async () => {
    // Prepare: the main path only saw it updating; recovery saw it settle with the storage key applied
    const settledAt = T0 + 30 * MINUTE;
    const seen = {
      workspaceCheck: { status: 'WAITING' },
      settled: { status: 'SETTLED', settledAt },
    };
    // Act
    const result = await guardAt(settledAt + 1439 * MINUTE, seen);
    // Assess
    expect(result.storageWaitUntil).toBe(settledAt + WAIT_MINUTES * MINUTE);
    expect(result.storageWaitOver).toBe(false);
  });

  it('counts from now when nothing says when the key took effect', async () => {
    // Act
    const result = await guardAt(T0, {});
    // Assess
    expect(result.storageWaitUntil).toBe(T0 + WAIT_MINUTES * MINUTE);
    expect(result.storageWaitOver).toBe(false);
  });
});
