import { describe, expect, it } from 'vitest';
import { SnapshotMismatch, SnapshotUnreadable } from '../../lib/compute/errors.ts';
import { type ComputeSnapshot, type RestoreItem, snapshotKeyOf } from '../../lib/compute/model.ts';
import { restoreCompute } from '../../lib/compute/restore.ts';
import {
  additionsKeyOf,
  loadAdditions,
  loadRestoreSet,
  loadSnapshot,
  MemorySnapshotStore,
} from '../../lib/compute/snapshot-store.ts';
import type { WorkspaceApi } from '../../lib/databricks/api.ts';

/**
 * A snapshot is only ever read for the workspace (and execution) it was taken for: restore brings back what
 * ran in this workspace, never another's (DESIGN §6.4). A mismatch is `SnapshotMismatch` naming both ids.
 */

const EXEC = 'rotate-2026-11-30-abc';
const WS = 42;
const OTHER_WS = 7;
const KEY = snapshotKeyOf({ executionId: EXEC, workspace: { workspaceId: WS } });

const snapshot = (over: Partial<ComputeSnapshot> = {}): ComputeSnapshot => ({
  version: 1,
  executionId: EXEC,
  workspaceId: WS,
  deploymentName: 'acme',
  takenAt: 1,
  clusters: [{ cluster_id: 'c-1', state: 'RUNNING', cluster_source: 'UI' }],
  pools: [],
  warehouses: [],
  jobs: [],
  runs: [],
  pipelines: [],
  ...over,
});

const additions = {
  version: 1,
  clusters: [{ cluster_id: 'c-2', state: 'RUNNING', cluster_source: 'UI' }],
  warehouses: [],
  pipelines: [],
  pools: [],
  events: [],
  count: 1,
};

/** A store holding `value` as it is under `key` (as a misplaced or tampered object would be). */
async function storeWithRaw(key: string, value: unknown): Promise<MemorySnapshotStore> {
  const store = new MemorySnapshotStore();
  await store.putDocument(key, value);
  return store;
}

async function rejection(promise: Promise<unknown>): Promise<Error & { details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

describe('loadSnapshot: the workspace and the execution it is read for', () => {
  it('returns a snapshot of the workspace it is read for', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    await store.putIfAbsent(KEY, snapshot());
    // Act & Assess
    expect((await loadSnapshot(store, KEY, WS)).workspaceId).toBe(WS);
    expect((await loadSnapshot(store, KEY, WS, EXEC)).executionId).toBe(EXEC);
  });

  it('refuses a snapshot of another workspace with SnapshotMismatch naming both ids', async () => {
    // Prepare: a non-standard key, so only the caller's workspace id can tell
    const store = new MemorySnapshotStore();
    await store.putIfAbsent('state/snapshot.json', snapshot({ workspaceId: OTHER_WS }));
    // Act
    const error = await rejection(loadSnapshot(store, 'state/snapshot.json', WS));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error).toBeInstanceOf(SnapshotUnreadable);
    expect(error.name).toBe('SnapshotMismatch');
    expect(error.message).toContain(`belongs to workspace ${OTHER_WS}, not to workspace ${WS}`);
    expect(error.details).toMatchObject({ workspaceId: WS, snapshotWorkspaceId: OTHER_WS });
  });

  it('refuses a snapshot of another execution when the caller names its execution', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    await store.putIfAbsent('state/snapshot.json', snapshot({ executionId: 'an-earlier-one' }));
    // Act
    const error = await rejection(loadSnapshot(store, 'state/snapshot.json', WS, EXEC));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`taken by execution an-earlier-one, not by execution ${EXEC}`);
    expect(error.details).toMatchObject({ executionId: EXEC, snapshotExecutionId: 'an-earlier-one' });
    // Without the execution, the workspace alone is checked.
    expect((await loadSnapshot(store, 'state/snapshot.json', WS)).executionId).toBe('an-earlier-one');
  });
});

describe('A snapshot under a standard key must name that key’s execution and workspace', () => {
  it.each([
    [
      'another workspace',
      { workspaceId: OTHER_WS },
      `belongs to workspace ${OTHER_WS}, not to workspace ${WS}`,
    ],
    [
      'another execution',
      { executionId: 'other-exec' },
      `taken by execution other-exec, not by execution ${EXEC}`,
    ],
  ])('refuses to read one of %s, whoever reads it', async (_, over, text) => {
    // Prepare: the object was misplaced (or tampered with) in the store
    const store = await storeWithRaw(KEY, snapshot(over));
    // Act
    const errors = await Promise.all([
      rejection(store.get(KEY)),
      rejection(loadRestoreSet(store, KEY)),
      rejection(loadSnapshot(store, KEY, WS)),
    ]);
    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(SnapshotMismatch);
      expect(error.message).toContain(KEY);
      expect(error.message).toContain(text);
    }
  });

  it('refuses to write one, before anything is stopped', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    // Act
    const error = await rejection(store.putIfAbsent(KEY, snapshot({ workspaceId: OTHER_WS })));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(await store.get(KEY)).toBeUndefined();
  });

  it('does not look at keys of another form', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    // Act & Assess
    await expect(store.putIfAbsent('k1', snapshot({ workspaceId: OTHER_WS }))).resolves.toEqual({
      created: true,
    });
    expect((await store.get('k1'))?.workspaceId).toBe(OTHER_WS);
  });
});

describe('loadRestoreSet and loadAdditions: the owner', () => {
  it('unites the snapshot and its additions for their own workspace and execution', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    await store.putIfAbsent(KEY, snapshot());
    await store.putDocument(additionsKeyOf(KEY), additions);
    // Act
    const set = await loadRestoreSet(store, KEY, { workspaceId: WS, executionId: EXEC });
    // Assess
    expect(set?.clusters.map((c) => c.cluster_id)).toEqual(['c-1', 'c-2']);
  });

  it('restores nothing from another workspace’s snapshot read for this one', async () => {
    // Prepare: a genuine snapshot of workspace 7, under its own key, read for workspace 42
    const otherKey = snapshotKeyOf({ executionId: EXEC, workspace: { workspaceId: OTHER_WS } });
    const store = new MemorySnapshotStore();
    await store.putIfAbsent(otherKey, snapshot({ workspaceId: OTHER_WS }));
    // Act
    const error = await rejection(loadRestoreSet(store, otherKey, { workspaceId: WS }));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`belongs to workspace ${OTHER_WS}, not to workspace ${WS}`);
    expect(error.message).toContain(`read for workspace ${WS}`);
  });

  it('refuses another execution’s snapshot when the execution is given', async () => {
    // Prepare
    const earlierKey = snapshotKeyOf({ executionId: 'earlier', workspace: { workspaceId: WS } });
    const store = new MemorySnapshotStore();
    await store.putIfAbsent(earlierKey, snapshot({ executionId: 'earlier' }));
    // Act
    const error = await rejection(loadRestoreSet(store, earlierKey, { workspaceId: WS, executionId: EXEC }));
    const inherited = await loadRestoreSet(store, earlierKey, { workspaceId: WS, executionId: 'earlier' });
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`in execution ${EXEC}`);
    expect(inherited?.executionId).toBe('earlier');
  });

  it('refuses additions stored under another workspace’s key, naming both', async () => {
    // Prepare
    const otherKey = snapshotKeyOf({ executionId: EXEC, workspace: { workspaceId: OTHER_WS } });
    const store = new MemorySnapshotStore();
    await store.putDocument(additionsKeyOf(otherKey), additions);
    // Act
    const error = await rejection(loadAdditions(store, otherKey, { workspaceId: WS }));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`workspace ${OTHER_WS}, not to workspace ${WS}`);
    expect(await loadAdditions(store, otherKey)).toEqual(additions);
    expect(await loadAdditions(store, otherKey, { workspaceId: OTHER_WS, executionId: EXEC })).toEqual(
      additions,
    );
  });

  it('refuses additions of another execution when the execution is given', async () => {
    // Prepare
    const store = new MemorySnapshotStore();
    await store.putDocument(additionsKeyOf(KEY), additions);
    // Act
    const error = await rejection(loadAdditions(store, KEY, { workspaceId: WS, executionId: 'other' }));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`execution ${EXEC}, not to execution other`);
  });
});

describe('restoreCompute: a misplaced snapshot restores nothing', () => {
  it('fails with SnapshotMismatch before any Databricks call', async () => {
    // Prepare: the item's snapshot key holds workspace 7's snapshot
    const store = await storeWithRaw(KEY, snapshot({ workspaceId: OTHER_WS }));
    const calls: string[] = [];
    const api = new Proxy({} as WorkspaceApi, {
      get: (_, name) => () => {
        calls.push(String(name));
        throw new Error(`unexpected call ${String(name)}`);
      },
    });
    const item = {
      executionId: EXEC,
      workspace: { workspaceId: WS, deploymentName: 'acme' },
    } as unknown as RestoreItem;
    const deps = {
      api,
      store,
      settings: { apiConcurrency: 4, computeStopTimeoutMinutes: 30, computeRestoreTimeoutMinutes: 30 },
      now: () => 0,
    };
    // Act
    const error = await rejection(restoreCompute(item, deps));
    // Assess
    expect(error).toBeInstanceOf(SnapshotMismatch);
    expect(error.message).toContain(`workspace ${OTHER_WS}`);
    expect(error.message).toContain(`workspace ${WS}`);
    expect(calls).toEqual([]);
  });
});
