import { GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkClient } from '../../lib/aws/clients.ts';
import {
  acquireWorkspaceLock,
  readLock,
  releaseLocksHeldBy,
  releaseWorkspaceLock,
  renewWorkspaceLock,
  WorkspaceBusy,
  WorkspaceLockLost,
} from '../../lib/lock/index.ts';
import { type LocalLockTable, startLocalLockTable } from '../../local/aws/dynamodb.ts';

const T0 = Date.parse('2026-11-25T16:45:00Z');
const LEASE = 1800;
const EXECUTION = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod';
const A = `${EXECUTION}:run-a`;
const B = `${EXECUTION}:run-b`;
/** Child executions (rotate-one-workspace) are named after the parent that started them. */
const A_CHILD = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-run-a';

let db: LocalLockTable;
let nextWorkspace = 1_000_000_000_000_000;
/** A workspace id no other test uses (one table for the whole file). */
const freshWorkspace = () => nextWorkspace++;
const minutes = (n: number) => n * 60_000;

beforeAll(async () => {
  db = await startLocalLockTable('locks-lease-test');
});
afterAll(() => db.close());

const acquire = (workspaceId: number, holder: string, now = T0, rootExecution?: string) =>
  acquireWorkspaceLock(db.client, db.table, {
    workspaceId,
    holder,
    leaseSeconds: LEASE,
    now,
    ...(rootExecution ? { rootExecution } : {}),
  });
const holderOf = async (workspaceId: number) => (await readLock(db.client, db.table, workspaceId))?.holder?.S;

describe('Function: acquireWorkspaceLock', () => {
  it('takes a free lock for the lease and records who and since when', async () => {
    // Prepare
    const ws = freshWorkspace();
    // Act
    const lock = await acquire(ws, A);
    // Assess
    expect(lock).toEqual({ holder: A, expiresAt: T0 / 1000 + LEASE });
    const item = await readLock(db.client, db.table, ws);
    expect(item).toEqual({
      pk: { S: `lock#${ws}` },
      workspaceId: { N: String(ws) },
      holder: { S: A },
      rootExecution: { S: A },
      acquiredAt: { N: String(T0 / 1000) },
      expiresAt: { N: String(T0 / 1000 + LEASE) },
    });
  });

  it('refuses a lock another execution holds with WorkspaceBusy naming that execution and since when', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const error = await acquire(ws, B, T0 + minutes(10)).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(WorkspaceBusy);
    expect((error as Error).name).toBe('WorkspaceBusy');
    expect((error as Error).message).toContain(`workspace ${ws} is locked by execution ${A}`);
    expect((error as Error).message).toContain('since 2026-11-25T16:45:00Z');
    expect((error as Error).message).toContain('"waitForLock": true');
    expect((error as WorkspaceBusy).details).toMatchObject({ workspaceId: ws, holder: A });
    expect(await holderOf(ws)).toBe(A);
  });

  it('takes over a lock whose lease has run out, even before TTL deletes it', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const lock = await acquire(ws, B, T0 + (LEASE + 1) * 1000);
    // Assess
    expect(lock.holder).toBe(B);
    expect(await holderOf(ws)).toBe(B);
  });

  it('refuses a lock up to the last second of its lease', async () => {
    const ws = freshWorkspace();
    await acquire(ws, A);
    await expect(acquire(ws, B, T0 + (LEASE - 1) * 1000)).rejects.toThrow(WorkspaceBusy);
  });

  it('renews the lock of a holder that asks again (a retried Task, a redrive)', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const lock = await acquire(ws, A, T0 + minutes(5));
    // Assess
    expect(lock.expiresAt).toBe((T0 + minutes(5)) / 1000 + LEASE);
  });

  it('lets exactly one of two executions racing for a free lock win', async () => {
    for (let round = 0; round < 10; round++) {
      // Prepare
      const ws = freshWorkspace();
      // Act
      const results = await Promise.allSettled([acquire(ws, A), acquire(ws, B)]);
      // Assess
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(['WorkspaceBusy']);
      const winner = (won[0] as PromiseFulfilledResult<{ holder: string }>).value.holder;
      expect(await holderOf(ws)).toBe(winner);
    }
  });

  it('lets exactly one of two executions racing for an expired lock win', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod:old');
    const later = T0 + (LEASE + 60) * 1000;
    // Act
    const results = await Promise.allSettled([acquire(ws, A, later), acquire(ws, B, later)]);
    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });
});

describe('Function: renewWorkspaceLock', () => {
  const renew = (ws: number, holder: string, now: number) =>
    renewWorkspaceLock(db.client, db.table, { workspaceId: ws, holder, leaseSeconds: LEASE, now });

  it('extends the lease of the holder', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const lock = await renew(ws, A, T0 + minutes(20));
    // Assess
    expect(lock).toEqual({ holder: A, expiresAt: (T0 + minutes(20)) / 1000 + LEASE });
    expect((await readLock(db.client, db.table, ws))?.acquiredAt?.N).toBe(String(T0 / 1000));
  });

  it('extends a lease that ran out while nobody took the lock', async () => {
    const ws = freshWorkspace();
    await acquire(ws, A);
    await expect(renew(ws, A, T0 + (LEASE + 600) * 1000)).resolves.toMatchObject({ holder: A });
  });

  it('raises WorkspaceLockLost naming the execution that took the lock over', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    await acquire(ws, B, T0 + (LEASE + 1) * 1000);
    // Act
    const error = await renew(ws, A, T0 + (LEASE + 2) * 1000).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(WorkspaceLockLost);
    expect((error as Error).message).toContain(`execution ${A} lost the lock of workspace ${ws}`);
    expect((error as Error).message).toContain(`execution ${B} holds it`);
    expect(await holderOf(ws)).toBe(B);
  });

  it('raises WorkspaceLockLost when the lock is gone', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    await releaseWorkspaceLock(db.client, db.table, { workspaceId: ws, holder: A });
    // Act
    const error = await renew(ws, A, T0 + minutes(1)).catch((e: unknown) => e);
    // Assess
    expect((error as Error).name).toBe('WorkspaceLockLost');
    expect((error as Error).message).toContain('no longer recorded');
    expect(await readLock(db.client, db.table, ws)).toBeUndefined();
  });
});

describe('Function: releaseWorkspaceLock', () => {
  const release = (ws: number, holder: string) =>
    releaseWorkspaceLock(db.client, db.table, { workspaceId: ws, holder });

  it('releases the lock of its holder, so that another execution can take it at once', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const result = await release(ws, A);
    // Assess
    expect(result).toEqual({ released: true });
    await expect(acquire(ws, B, T0 + 1000)).resolves.toMatchObject({ holder: B });
  });

  it("leaves another execution's lock alone, without an error", async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const result = await release(ws, B);
    // Assess
    expect(result).toEqual({ released: false });
    expect(await holderOf(ws)).toBe(A);
  });

  it('is idempotent: a second release, or a release of no lock, is not an error', async () => {
    const ws = freshWorkspace();
    await acquire(ws, A);
    await expect(release(ws, A)).resolves.toEqual({ released: true });
    await expect(release(ws, A)).resolves.toEqual({ released: false });
    await expect(release(freshWorkspace(), A)).resolves.toEqual({ released: false });
  });
});

describe('Function: releaseLocksHeldBy', () => {
  it("releases the ended execution's locks and its child executions', and no other", async () => {
    // Prepare
    const ended = `${EXECUTION}:aborted`;
    const child = `${A_CHILD}-of-aborted`;
    const [w1, w2, w3, w4] = [freshWorkspace(), freshWorkspace(), freshWorkspace(), freshWorkspace()];
    await acquire(w1, ended);
    await acquire(w2, ended);
    await acquire(w3, child, T0, ended);
    await acquire(w4, B);
    // Act
    const result = await releaseLocksHeldBy(db.client, db.table, ended);
    // Assess
    expect(result.released).toEqual([
      { workspaceId: w1, holder: ended },
      { workspaceId: w2, holder: ended },
      { workspaceId: w3, holder: child },
    ]);
    expect(await holderOf(w1)).toBeUndefined();
    expect(await holderOf(w3)).toBeUndefined();
    expect(await holderOf(w4)).toBe(B);
  });

  it("releases a child execution's lock when the child alone ended", async () => {
    // Prepare
    const [mine, parents] = [freshWorkspace(), freshWorkspace()];
    const parent = `${EXECUTION}:parent-of-timed-out-child`;
    const child = `${A_CHILD}-timed-out`;
    await acquire(mine, child, T0, parent);
    await acquire(parents, parent);
    // Act
    const result = await releaseLocksHeldBy(db.client, db.table, child);
    // Assess
    expect(result.released).toEqual([{ workspaceId: mine, holder: child }]);
    expect(await holderOf(parents)).toBe(parent);
  });

  it('releases nothing, without an error, for an execution that holds no lock', async () => {
    await expect(releaseLocksHeldBy(db.client, db.table, `${EXECUTION}:never-locked`)).resolves.toEqual({
      released: [],
    });
  });

  it('leaves a lock that another execution took over after the index was read', async () => {
    // Prepare: a lease of A ran out; B takes the workspace between the index query and the delete.
    const ws = freshWorkspace();
    const ended = `${EXECUTION}:ended`;
    await acquire(ws, ended);
    const racing: SdkClient = {
      send: async (command: unknown) => {
        const answer = await db.client.send(command as QueryCommand);
        if (command instanceof QueryCommand) await acquire(ws, B, T0 + (LEASE + 1) * 1000);
        return answer;
      },
    };
    // Act
    const result = await releaseLocksHeldBy(racing, db.table, ended);
    // Assess
    expect(result.released).toEqual([]);
    expect(await holderOf(ws)).toBe(B);
  });

  it('never touches the record of a handled event, which also names its execution', async () => {
    // Prepare
    const { recordEventOnce } = await import('../../lib/lock/index.ts');
    const holder = `${EXECUTION}:event-handler`;
    await recordEventOnce(db.client, db.table, { eventId: 'evt-kept', holder, ttlSeconds: 60, now: T0 });
    // Act
    const result = await releaseLocksHeldBy(db.client, db.table, holder);
    // Assess
    expect(result.released).toEqual([]);
    const record = await db.client.send(
      new GetItemCommand({ TableName: db.table, Key: { pk: { S: 'event#evt-kept' } } }),
    );
    expect(record.Item?.holder?.S).toBe(holder);
  });
});
