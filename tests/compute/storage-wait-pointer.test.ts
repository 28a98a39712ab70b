import { describe, expect, it } from 'vitest';
import { setClock } from '../../lib/clock.ts';
import type { ComputeDeps } from '../../lib/compute/deps.ts';
import { type StopCheckItem, type StopItem, snapshotKeyOf } from '../../lib/compute/model.ts';
import { MemorySnapshotStore, openPointerOf, openSnapshotKeyOf } from '../../lib/compute/snapshot-store.ts';
import { checkComputeStopped, stopCompute } from '../../lib/compute/stop.ts';
import type { WorkspaceApi } from '../../lib/databricks/api.ts';
import { TransientError } from '../../lib/errors.ts';
import { quietWorkspace } from './fakes.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * DESIGN §6.5: nothing starts until the storage wait is over, whoever starts it. An execution that ends in
 * the middle of that wait (aborted, timed out) leaves its compute stopped under its open pointer; the next
 * execution restores it, and must know when the wait ends. The open pointer says whether a storage key was
 * being added, and the guard of the wait records when the wait ends.
 */

const WS = 42;
const MINUTE = 60_000;
const T0 = 1_800_000_000_000;
const WAIT_MINUTES = 20;

const api = quietWorkspace;

const baseItem = (executionId: string, storageAdded: boolean): StopItem => ({
  executionId,
  workspace: {
    workspaceId: WS,
    workspaceName: 'prod',
    deploymentName: 'fake',
    region: 'us-east-1',
    current: { managedServicesKeyConfigId: 'cfg-old', storageKeyConfigId: null },
    changes: { managedServices: true, storage: storageAdded },
    storageAdded,
    steps: [],
  },
  target: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/new', keyId: 'new', region: 'us-east-1' },
  useCases: storageAdded ? ['MANAGED_SERVICES', 'STORAGE'] : ['MANAGED_SERVICES'],
  reuseKeyForClusterVolumes: true,
  activeRuns: 'cancel',
  drainTimeoutMinutes: 60,
  emergency: false,
  storageWaitSeconds: storageAdded ? WAIT_MINUTES * 60 : 0,
});

/** A store that counts the documents written. */
class CountingStore extends MemorySnapshotStore {
  writes: string[] = [];
  override async putDocument(key: string, document: unknown): Promise<void> {
    this.writes.push(key);
    return super.putDocument(key, document);
  }
}

const depsAt = (store: MemorySnapshotStore, now: number): ComputeDeps => ({
  api,
  store,
  settings: { apiConcurrency: 4, computeStopTimeoutMinutes: 30, computeRestoreTimeoutMinutes: 30 },
  now: () => now,
});

/** The first execution stops compute (writing its open pointer) and its key took effect at `runningAt`. */
async function stoppedUnderStorageWait(
  store: MemorySnapshotStore,
  runningAt: number,
): Promise<StopCheckItem> {
  const item = baseItem('first', true);
  const compute = await stopCompute(item, depsAt(store, T0));
  return { ...item, compute, workspaceCheck: { status: 'RUNNING', runningAt } } as StopCheckItem;
}

describe('The open pointer: what a later execution needs to know about the storage wait', () => {
  it('says whether the execution that stopped compute was adding a storage key', async () => {
    // Prepare
    const adding = new MemorySnapshotStore();
    const notAdding = new MemorySnapshotStore();
    // Act
    await stopCompute(baseItem('first', true), depsAt(adding, T0));
    await stopCompute(baseItem('first', false), depsAt(notAdding, T0));
    // Assess
    expect(await openPointerOf(WS, adding)).toEqual({
      snapshotKey: snapshotKeyOf({ executionId: 'first', workspace: { workspaceId: WS } }),
      executionId: 'first',
      storageAdded: true,
    });
    expect((await openPointerOf(WS, notAdding))?.storageAdded).toBe(false);
  });

  it('records when the storage wait ends at the first guard turn, keeping what the pointer said', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    const item = await stoppedUnderStorageWait(store, T0 + 5 * MINUTE);
    // Act
    const result = await checkComputeStopped(item, depsAt(store, T0 + 6 * MINUTE), { guard: true });
    // Assess
    expect(result.storageWaitUntil).toBe(T0 + (5 + WAIT_MINUTES) * MINUTE);
    expect(await openPointerOf(WS, store)).toEqual({
      snapshotKey: item.compute.snapshotKey,
      executionId: 'first',
      storageAdded: true,
      storageWaitUntil: T0 + (5 + WAIT_MINUTES) * MINUTE,
    });
  });

  it('writes the pointer once, not at every guard turn', async () => {
    // Prepare
    const store = new CountingStore();
    const item = await stoppedUnderStorageWait(store, T0 + 5 * MINUTE);
    const first = await checkComputeStopped(item, depsAt(store, T0 + 6 * MINUTE), { guard: true });
    store.writes = [];
    // Act
    await checkComputeStopped({ ...item, computeCheck: first }, depsAt(store, T0 + 7 * MINUTE), {
      guard: true,
    });
    // Assess
    expect(store.writes).not.toContain(openSnapshotKeyOf(WS));
  });

  it('leaves alone a pointer another snapshot owns (a later execution inherited the workspace)', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    const item = await stoppedUnderStorageWait(store, T0 + 5 * MINUTE);
    const other = {
      snapshotKey: 'second/42/compute-snapshot.json',
      executionId: 'second',
      storageAdded: false,
    };
    await store.putDocument(openSnapshotKeyOf(WS), other);
    // Act
    await checkComputeStopped(item, depsAt(store, T0 + 6 * MINUTE), { guard: true });
    // Assess
    expect(await store.getDocument(openSnapshotKeyOf(WS))).toEqual(other);
  });

  it('goes on guarding when the pointer cannot be written', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    const item = await stoppedUnderStorageWait(store, T0 + 5 * MINUTE);
    store.putDocument = async () => {
      throw Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown' });
    };
    // Act
    const result = await checkComputeStopped(item, depsAt(store, T0 + 30 * MINUTE), { guard: true });
    // Assess
    expect(result.status).toBe('STOPPED');
    expect(result.storageWaitOver).toBe(true);
  });

  it('reads a pointer written before these fields existed as saying nothing about the storage wait', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    await store.putDocument(openSnapshotKeyOf(WS), {
      snapshotKey: 'old/42/compute-snapshot.json',
      executionId: 'old',
      storageWaitUntil: 'soon',
    });
    // Act
    const pointer = await openPointerOf(WS, store);
    // Assess
    expect(pointer).toEqual({ snapshotKey: 'old/42/compute-snapshot.json', executionId: 'old' });
  });
});

describe('Guarding: what came back is recorded even when S3 fails a write', () => {
  it('writes the restore additions again after a transient S3 failure, so the cluster is restored and reported', async () => {
    // Prepare: the first execution stopped everything; during the wait a user starts cluster "ui"
    const store = new MemorySnapshotStore();
    const item = await stoppedUnderStorageWait(store, T0 + 5 * MINUTE);
    const cluster = { cluster_id: 'ui', cluster_source: 'UI', state: 'RUNNING' };
    const terminated: string[] = [];
    const userStarted = {
      ...api,
      listClusters: async () => [cluster],
      terminateCluster: async (id: string) => {
        terminated.push(id);
      },
    } as unknown as WorkspaceApi;
    let failures = 1;
    const put = store.putDocument.bind(store);
    store.putDocument = async (key: string, document: unknown) => {
      if (key.endsWith('restore-additions.json') && failures-- > 0) {
        throw new TransientError('S3 answered 500 InternalError; retry');
      }
      return put(key, document);
    };
    const saved = setClock({ now: () => T0 + 6 * MINUTE, sleep: async () => undefined });
    try {
      // Act
      const result = await checkComputeStopped(
        item,
        { ...depsAt(store, T0 + 6 * MINUTE), api: userStarted },
        { guard: true },
      );
      // Assess: stopped again, reported, and in the additions the restore reads
      expect(terminated).toEqual(['ui']);
      expect(result.restartedDuringWindow.map((r) => r.id)).toEqual(['ui']);
      const additions = (await store.getDocument(
        item.compute.snapshotKey.replace('compute-snapshot.json', 'restore-additions.json'),
      )) as { clusters?: Array<{ cluster_id: string }> };
      expect(additions.clusters?.map((c) => c.cluster_id)).toEqual(['ui']);
    } finally {
      setClock(saved);
    }
  });
});
