import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type SdkClient, setAwsClients } from '../../lib/aws/clients.ts';
import {
  acquireWorkspaceLock,
  holdLease,
  keepLease,
  readLock,
  releaseLocksHeldBy,
  releaseWorkspaceLock,
  renewIfHeld,
} from '../../lib/lock/index.ts';
import { logger } from '../../lib/log.ts';
import { type LocalLockTable, startLocalLockTable } from '../../local/aws/dynamodb.ts';

/**
 * The lock as the steps use it: `renewIfHeld` (the item's lock), `keepLease` (the polls: best effort, logged)
 * and `holdLease` (before a change: renew, take a lapsed lock nobody took again, refuse once another
 * execution holds the workspace). Against an embedded DynamoDB (dynalite), with the logs an operator reads.
 */

const T0 = Date.parse('2026-11-25T16:45:00Z');
const LEASE_MINUTES = 30;
const PARENT = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod:manual-9';
const CHILD = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-manual-9';
const OTHER = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-manual-10';

let db: LocalLockTable;
let now = T0;
let nextWorkspace = 4_000_000_000_000_000;
const minutes = (n: number) => n * 60_000;

beforeAll(async () => {
  db = await startLocalLockTable('locks-item-mutation-test');
});
afterAll(() => db.close());
beforeEach(() => {
  now = T0;
  setAwsClients({ dynamodb: db.client });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const settings = { lockTable: 'locks-item-mutation-test', lockLeaseMinutes: LEASE_MINUTES };
/** A step's environment (`defineStep`'s `env`): the settings and the clock of the run. */
const stepEnv = () => ({ settings, clock: { now: () => now } });
/** A client that must not be called: any DynamoDB call fails the test. */
const untouchable: SdkClient = {
  send: async () => {
    throw new Error('DynamoDB was called');
  },
};
const unavailable: SdkClient = {
  send: async () => {
    throw Object.assign(new Error('Service unavailable'), {
      name: 'InternalServerError',
      $metadata: { httpStatusCode: 500 },
    });
  },
};

/** A workspace's item that holds the lock `holder` took now (as "Take the workspace lock" stores it). */
async function lockedItem(holder = CHILD, rootExecution = PARENT) {
  const workspaceId = nextWorkspace++;
  const lock = await acquireWorkspaceLock(db.client, db.table, {
    workspaceId,
    holder,
    rootExecution,
    leaseSeconds: LEASE_MINUTES * 60,
    now,
  });
  return { workspace: { workspaceId }, lock, rootExecution };
}
const lockOf = (workspaceId: number) => readLock(db.client, db.table, workspaceId);
const takeOver = (workspaceId: number, holder = OTHER) =>
  acquireWorkspaceLock(db.client, db.table, { workspaceId, holder, leaseSeconds: LEASE_MINUTES * 60, now });
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: Error & { details?: Record<string, unknown> }) => error,
  );

describe('Function: renewIfHeld, its input', () => {
  it('does nothing, and calls no DynamoDB, for an item whose lock is null', async () => {
    const item = { workspace: { workspaceId: 42 }, lock: null };
    await expect(renewIfHeld(item, { client: untouchable, settings, now })).resolves.toBeUndefined();
  });

  it('refuses a malformed lock, naming it as the lock the item carries', async () => {
    // Act
    const error = await failure(
      renewIfHeld(
        { workspace: { workspaceId: 42 }, lock: { holder: '', expiresAt: 1 } },
        { client: untouchable, settings, now },
      ),
    );
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toContain('the lock the item carries (lock) field holder is invalid');
  });

  it('refuses to go on without the lock table, saying that it was needed to renew the lock', async () => {
    // Act
    const error = await failure(
      renewIfHeld(
        { workspace: { workspaceId: 42 }, lock: { holder: CHILD, expiresAt: 1 } },
        { client: untouchable, settings: { lockTable: undefined, lockLeaseMinutes: 30 }, now },
      ),
    );
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.message).toContain(
      'setting LOCK_TABLE is not set, and it is needed to renew the workspace lock',
    );
  });

  it('renews for LOCK_LEASE_MINUTES from now', async () => {
    // Prepare
    const item = await lockedItem();
    now += minutes(10);
    // Act
    const renewed = await renewIfHeld(item, {
      client: db.client,
      settings: { ...settings, lockLeaseMinutes: 7 },
      now,
    });
    // Assess
    expect(renewed).toEqual({ holder: CHILD, expiresAt: now / 1000 + 7 * 60 });
    expect((await lockOf(item.workspace.workspaceId))?.expiresAt?.N).toBe(String(now / 1000 + 7 * 60));
  });
});

describe('Function: keepLease (the polls)', () => {
  it('extends the lease at every poll, so that the workspace stays held past the first lease', async () => {
    // Prepare
    const item = await lockedItem();
    now += minutes(25);
    // Act
    await keepLease(item, stepEnv());
    // Assess: 31 minutes after the lock was taken, another execution still finds it held
    now += minutes(6);
    await expect(takeOver(item.workspace.workspaceId)).rejects.toThrow(/is locked by execution/);
    expect((await lockOf(item.workspace.workspaceId))?.expiresAt?.N).toBe(
      String((T0 + minutes(25)) / 1000 + LEASE_MINUTES * 60),
    );
  });

  it('logs WorkspaceLockLost at ERROR and goes on when another execution took the lock', async () => {
    // Prepare
    const item = await lockedItem();
    now += minutes(31);
    await takeOver(item.workspace.workspaceId);
    const error = vi.spyOn(logger, 'error');
    // Act
    await keepLease(item, stepEnv());
    // Assess
    expect(error).toHaveBeenCalledWith('the workspace lock could not be renewed; the rotation goes on', {
      workspaceId: item.workspace.workspaceId,
      errorName: 'WorkspaceLockLost',
      error: expect.stringContaining(`execution ${OTHER} holds it`),
    });
    expect((await lockOf(item.workspace.workspaceId))?.holder?.S).toBe(OTHER);
  });

  it('does not take a vanished lock again (only a step that changes the workspace does), and logs it', async () => {
    // Prepare
    const item = await lockedItem();
    await releaseWorkspaceLock(db.client, db.table, {
      workspaceId: item.workspace.workspaceId,
      holder: CHILD,
    });
    const error = vi.spyOn(logger, 'error');
    // Act
    await keepLease(item, stepEnv());
    // Assess
    expect(error).toHaveBeenCalledWith(
      'the workspace lock could not be renewed; the rotation goes on',
      expect.objectContaining({
        errorName: 'WorkspaceLockLost',
        error: expect.stringContaining('no longer recorded'),
      }),
    );
    expect(await lockOf(item.workspace.workspaceId)).toBeUndefined();
  });

  it('logs a DynamoDB failure at ERROR and goes on', async () => {
    // Prepare
    const item = await lockedItem();
    setAwsClients({ dynamodb: unavailable });
    const error = vi.spyOn(logger, 'error');
    // Act
    await keepLease(item, stepEnv());
    // Assess
    expect(error).toHaveBeenCalledWith('the workspace lock could not be renewed; the rotation goes on', {
      workspaceId: item.workspace.workspaceId,
      errorName: 'TransientError',
      error: expect.stringContaining(`while renewing the lock of workspace ${item.workspace.workspaceId}`),
    });
  });

  it.each([
    ['no lock', undefined],
    ['a null lock', null],
  ])('does nothing and logs nothing for an item with %s', async (_, lock) => {
    // Prepare
    setAwsClients({ dynamodb: untouchable });
    const error = vi.spyOn(logger, 'error');
    // Act
    await keepLease({ workspace: { workspaceId: 42 }, lock }, stepEnv());
    // Assess
    expect(error).not.toHaveBeenCalled();
  });
});

describe('Function: holdLease (before a step that changes the workspace)', () => {
  it('takes a lapsed lock nobody took again under the rotation that started it, so ending the rotation releases it', async () => {
    // Prepare: the lock is gone (its lease ran out and TTL deleted it)
    const rotation = `${PARENT}-lapsed`;
    const item = await lockedItem(CHILD, rotation);
    const ws = item.workspace.workspaceId;
    await releaseWorkspaceLock(db.client, db.table, { workspaceId: ws, holder: CHILD });
    now += minutes(40);
    // Act
    await holdLease(item, stepEnv());
    // Assess
    const lock = await lockOf(ws);
    expect(lock?.holder?.S).toBe(CHILD);
    expect(lock?.rootExecution?.S).toBe(rotation);
    expect(lock?.expiresAt?.N).toBe(String(now / 1000 + LEASE_MINUTES * 60));
    const { released } = await releaseLocksHeldBy(db.client, db.table, rotation);
    expect(released).toEqual([{ workspaceId: ws, holder: CHILD }]);
  });

  it('logs at WARN that it took the lapsed lock again', async () => {
    // Prepare
    const item = await lockedItem();
    await releaseWorkspaceLock(db.client, db.table, {
      workspaceId: item.workspace.workspaceId,
      holder: CHILD,
    });
    const warn = vi.spyOn(logger, 'warn');
    // Act
    await holdLease(item, stepEnv());
    // Assess
    expect(warn).toHaveBeenCalledWith('the workspace lock had lapsed and nobody took it: taken again', {
      workspaceId: item.workspace.workspaceId,
    });
  });

  it('takes a lapsed lock again as its own holder when the item names no rotation', async () => {
    // Prepare
    const item = await lockedItem(CHILD, CHILD);
    const ws = item.workspace.workspaceId;
    await releaseWorkspaceLock(db.client, db.table, { workspaceId: ws, holder: CHILD });
    // Act
    await holdLease({ workspace: item.workspace, lock: item.lock }, stepEnv());
    // Assess
    const lock = await lockOf(ws);
    expect(lock?.holder?.S).toBe(CHILD);
    expect(lock?.rootExecution?.S).toBe(CHILD);
  });

  it('refuses with WorkspaceLockLost, and takes nothing, once another execution held the workspace — even if that one’s lease lapsed too', async () => {
    // Prepare: OTHER took the lock after CHILD's lease ran out, and OTHER's lease ran out as well.
    const item = await lockedItem();
    now += minutes(31);
    await takeOver(item.workspace.workspaceId);
    now += minutes(31);
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const error = await failure(holdLease(item, stepEnv()));
    // Assess
    expect(error.name).toBe('WorkspaceLockLost');
    expect(error.details).toMatchObject({ holder: CHILD, heldBy: OTHER });
    expect((await lockOf(item.workspace.workspaceId))?.holder?.S).toBe(OTHER);
    expect(warn).not.toHaveBeenCalled();
  });

  it('refuses with WorkspaceLockLost when another execution takes the lapsed lock between the renewal and the retake', async () => {
    // Prepare: the lock is gone; the renewal is refused and reads no lock back; OTHER takes it right then.
    const item = await lockedItem();
    const ws = item.workspace.workspaceId;
    await releaseWorkspaceLock(db.client, db.table, { workspaceId: ws, holder: CHILD });
    now += minutes(1);
    let refused = false;
    const racing: SdkClient = {
      send: async (command: unknown) => {
        try {
          const answer = await db.client.send(command as GetItemCommand);
          if (refused && command instanceof GetItemCommand) await takeOver(ws);
          return answer;
        } catch (error) {
          if (command instanceof UpdateItemCommand) refused = true;
          throw error;
        }
      },
    };
    setAwsClients({ dynamodb: racing });
    const warn = vi.spyOn(logger, 'warn');
    // Act
    const error = await failure(holdLease(item, stepEnv()));
    // Assess
    expect(refused).toBe(true);
    // Lost, not "busy": this execution is mid-rotation, so "touched nothing" would be false.
    expect(error.name).toBe('WorkspaceLockLost');
    expect(error.message).toContain(`execution ${OTHER} holds it`);
    expect(error.message).not.toContain('touched nothing');
    expect((await lockOf(ws))?.holder?.S).toBe(OTHER);
    expect(warn).not.toHaveBeenCalled();
  });

  it('logs a DynamoDB failure at ERROR, naming the error, and goes on', async () => {
    // Prepare
    const item = await lockedItem();
    setAwsClients({ dynamodb: unavailable });
    const error = vi.spyOn(logger, 'error');
    // Act
    await holdLease(item, stepEnv());
    // Assess
    expect(error).toHaveBeenCalledWith('the workspace lock could not be renewed; the step goes on', {
      workspaceId: item.workspace.workspaceId,
      errorName: 'TransientError',
      error: expect.stringContaining(`while renewing the lock of workspace ${item.workspace.workspaceId}`),
    });
  });

  it('renews its own lock whose lease ran out while nobody took it, without taking it anew', async () => {
    // Prepare
    const item = await lockedItem();
    now += minutes(45);
    const warn = vi.spyOn(logger, 'warn');
    // Act
    await holdLease(item, stepEnv());
    // Assess
    const lock = await lockOf(item.workspace.workspaceId);
    expect(lock?.expiresAt?.N).toBe(String(now / 1000 + LEASE_MINUTES * 60));
    expect(lock?.acquiredAt?.N).toBe(String(T0 / 1000));
    expect(warn).not.toHaveBeenCalled();
  });
});
