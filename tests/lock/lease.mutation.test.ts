import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBServiceException,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SdkClient } from '../../lib/aws/clients.ts';
import {
  acquireWorkspaceLock,
  readLock,
  recordEventOnce,
  releaseLocksHeldBy,
  releaseWorkspaceLock,
  renewWorkspaceLock,
  WorkspaceBusy,
  WorkspaceLockLost,
} from '../../lib/lock/index.ts';
import { type LocalLockTable, startLocalLockTable } from '../../local/aws/dynamodb.ts';

/**
 * The lease lock's conditional writes at their edges: the second its lease runs out, races between the
 * write and the read that follows a refused write, executions of one rotation, and the messages an operator
 * reads. The lock table is an embedded DynamoDB (dynalite); where DynamoDB's own answers matter (the item it
 * returns with a refused write, pages of a query, failures), a scripted client plays DynamoDB.
 */

const T0 = Date.parse('2026-11-25T16:45:00Z');
const T0_SECONDS = T0 / 1000;
const LEASE = 1800;
const ROTATION = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-prod';
const A = `${ROTATION}:run-a`;
const B = `${ROTATION}:run-b`;
const PARENT = `${ROTATION}:manual-7`;
const CHILD = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-manual-7';
const SECOND_CHILD = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:43-manual-7';

let db: LocalLockTable;
let nextWorkspace = 3_000_000_000_000_000;
/** A workspace id no other test uses (one table for the whole file). */
const freshWorkspace = () => nextWorkspace++;
const seconds = (n: number) => n * 1000;

beforeAll(async () => {
  db = await startLocalLockTable('locks-lease-mutation-test');
});
afterAll(() => db.close());

const acquire = (
  workspaceId: number,
  holder: string,
  now = T0,
  rootExecution?: string,
  client: SdkClient = db.client,
) =>
  acquireWorkspaceLock(client, db.table, {
    workspaceId,
    holder,
    leaseSeconds: LEASE,
    now,
    ...(rootExecution ? { rootExecution } : {}),
  });
const renew = (workspaceId: number, holder: string, now: number, client: SdkClient = db.client) =>
  renewWorkspaceLock(client, db.table, { workspaceId, holder, leaseSeconds: LEASE, now });
const release = (workspaceId: number, holder: string, client: SdkClient = db.client) =>
  releaseWorkspaceLock(client, db.table, { workspaceId, holder });
const holderOf = async (workspaceId: number) => (await readLock(db.client, db.table, workspaceId))?.holder?.S;
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (error: Error & { details?: Record<string, unknown> }) => error,
  );

/** What a refused conditional write throws; `Item` when the caller asked for `ALL_OLD`. */
const conditionFailed = (item?: Record<string, AttributeValue>) =>
  new ConditionalCheckFailedException({
    message: 'The conditional request failed',
    $metadata: { httpStatusCode: 400 },
    ...(item ? { Item: item } : {}),
  });
const serviceError = (name: string, status: number) =>
  new DynamoDBServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: `${name} said no`,
  });

// biome-ignore lint/suspicious/noExplicitAny: the commands' inputs, as the SDK builds them
type Input = Record<string, any>;
interface Call {
  command: string;
  input: Input;
}
/** A client that plays DynamoDB from a script, and records every command it was sent (`PutItem`, …). */
function scripted(answer: (command: string, input: Input, calls: Call[]) => unknown) {
  const calls: Call[] = [];
  const client: SdkClient = {
    send: async (command: { constructor: { name: string }; input: Input }) => {
      const name = command.constructor.name.replace(/Command$/, '');
      calls.push({ command: name, input: command.input });
      // A caller that retries without end fails here, rather than running until the test times out.
      if (calls.length > 50) throw new Error(`${calls.length} calls to DynamoDB`);
      return answer(name, command.input, calls);
    },
  };
  const sent = (command: string) => calls.filter((c) => c.command === command);
  return { client, calls, sent };
}
/** A lock item as acquire writes it. */
const lockItem = (workspaceId: number, holder: string, acquiredAt: number, rootExecution = holder) => ({
  pk: { S: `lock#${workspaceId}` },
  workspaceId: { N: String(workspaceId) },
  holder: { S: holder },
  rootExecution: { S: rootExecution },
  acquiredAt: { N: String(acquiredAt) },
  expiresAt: { N: String(acquiredAt + LEASE) },
});

describe('Function: acquireWorkspaceLock, at the end of a lease', () => {
  it('takes over a lock in the very second its lease runs out (expiresAt <= now)', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const lock = await acquire(ws, B, T0 + seconds(LEASE));
    // Assess
    expect(lock).toEqual({ holder: B, expiresAt: T0_SECONDS + 2 * LEASE });
    expect(await holderOf(ws)).toBe(B);
  });

  it('refuses a lock in the last millisecond of its lease (the clock counts in whole seconds)', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const error = await failure(acquire(ws, B, T0 + seconds(LEASE) - 1));
    // Assess
    expect(error).toBeInstanceOf(WorkspaceBusy);
    expect(await holderOf(ws)).toBe(A);
  });

  it('takes a lock that a refused write showed lapsing in this very second, as the condition would', async () => {
    // Prepare: DynamoDB refused the first write and returned another execution's lock, whose lease ends now.
    const table = scripted((command, _input, calls) => {
      if (command === 'PutItem' && calls.length === 1) {
        throw conditionFailed({ ...lockItem(42, B, T0_SECONDS - LEASE) });
      }
      return {};
    });
    // Act
    const lock = await acquire(42, A, T0, undefined, table.client);
    // Assess
    expect(lock).toEqual({ holder: A, expiresAt: T0_SECONDS + LEASE });
    expect(table.sent('PutItem')).toHaveLength(2);
  });

  it('takes the lock when the execution that beat its write released it before it could be read', async () => {
    // Prepare: B holds the lock; B releases it between A's refused write and A's read (dynalite returns
    // no item with a refused write, so A reads the lock back).
    const ws = freshWorkspace();
    await acquire(ws, B);
    const racing: SdkClient = {
      send: async (command: unknown) => {
        try {
          return await db.client.send(command as PutItemCommand);
        } catch (error) {
          if (command instanceof PutItemCommand) await release(ws, B);
          throw error;
        }
      },
    };
    // Act
    const lock = await acquire(ws, A, T0 + seconds(60), undefined, racing);
    // Assess
    expect(lock).toEqual({ holder: A, expiresAt: T0_SECONDS + 60 + LEASE });
    expect(await holderOf(ws)).toBe(A);
  });

  it('gets its own lock back when an overlapping attempt of the same execution took it meanwhile', async () => {
    // Prepare: B holds the lock; between A's refused write and A's read, B releases it and another attempt
    // of A's Task (the earlier invocation, still running) takes it.
    const ws = freshWorkspace();
    await acquire(ws, B);
    let raced = false;
    const racing: SdkClient = {
      send: async (command: unknown) => {
        try {
          return await db.client.send(command as PutItemCommand);
        } catch (error) {
          if (command instanceof PutItemCommand && !raced) {
            raced = true;
            await release(ws, B);
            await acquire(ws, A, T0 + seconds(60));
          }
          throw error;
        }
      },
    };
    // Act
    const lock = await acquire(ws, A, T0 + seconds(61), undefined, racing);
    // Assess
    expect(lock).toEqual({ holder: A, expiresAt: T0_SECONDS + 61 + LEASE });
    expect(await holderOf(ws)).toBe(A);
  });

  it('gives up with a TransientError after three writes when the lock keeps changing hands', async () => {
    // Prepare: every write is refused, and every read finds the lock gone again.
    const table = scripted((command) => {
      if (command === 'PutItem') throw conditionFailed();
      return {};
    });
    // Act
    const error = await failure(acquire(42, A, T0, undefined, table.client));
    // Assess
    expect(error.name).toBe('TransientError');
    expect(error.message).toBe(
      'the lock of workspace 42 changed hands 3 times while this execution tried to take it; retry',
    );
    expect(error.details).toEqual({ workspaceId: 42 });
    expect(table.sent('PutItem')).toHaveLength(3);
    expect(table.sent('GetItem').every((c) => c.input.ConsistentRead === true)).toBe(true);
  });

  it('names the workspace it was locking in a lock-table error', async () => {
    const table = scripted(() => {
      throw serviceError('AccessDeniedException', 400);
    });
    const error = await failure(acquire(42, A, T0, undefined, table.client));
    expect(error.name).toBe('LockTableError');
    expect(error.message).toContain(
      `DynamoDB AccessDeniedException (HTTP 400) while locking workspace 42 in lock table ${db.table}`,
    );
  });
});

describe('WorkspaceBusy: what the operator reads', () => {
  it('names the holder, since when and until when, says nothing was touched and what to do', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    // Act
    const error = await failure(acquire(ws, B, T0 + seconds(600)));
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.message).toBe(
      `workspace ${ws} is locked by execution ${A} since 2026-11-25T16:45:00Z, lease until 2026-11-25T17:15:00Z; this execution touched nothing. Let that execution finish (or stop it: its lock is then released), then start again, or start with "waitForLock": true to wait for it.`,
    );
    expect(error.details).toEqual({
      workspaceId: ws,
      holder: A,
      rootExecution: A,
      acquiredAt: T0_SECONDS,
      expiresAt: T0_SECONDS + LEASE,
    });
  });

  it('names the rotation that started the child execution holding the workspace', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, CHILD, T0, PARENT);
    // Act
    const error = await failure(acquire(ws, B, T0 + seconds(60)));
    // Assess
    expect(error.message).toContain(
      `workspace ${ws} is locked by execution ${CHILD} (the workspace execution of rotation ${PARENT}) since 2026-11-25T16:45:00Z,`,
    );
    expect(error.details).toMatchObject({ holder: CHILD, rootExecution: PARENT });
  });

  it('names the holder of a lock item that records no acquiredAt (one written by hand), without a since', async () => {
    // Prepare
    const table = scripted(() => {
      throw conditionFailed({
        pk: { S: 'lock#42' },
        holder: { S: B },
        expiresAt: { N: String(T0_SECONDS + 60) },
      });
    });
    // Act
    const error = await failure(acquire(42, A, T0, undefined, table.client));
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.message).toContain(
      `workspace 42 is locked by execution ${B}, lease until 2026-11-25T16:46:00Z;`,
    );
    expect(table.sent('GetItem')).toHaveLength(0);
  });
});

describe('A lock held by a child execution of the rotation', () => {
  it('is not its parent rotation’s: the parent can neither take, renew nor release it', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, CHILD, T0, PARENT);
    const later = T0 + seconds(60);
    // Act
    const taken = await failure(acquire(ws, PARENT, later));
    const renewed = await failure(renew(ws, PARENT, later));
    const released = await release(ws, PARENT);
    // Assess
    expect(taken).toBeInstanceOf(WorkspaceBusy);
    expect(taken.details).toMatchObject({ holder: CHILD, rootExecution: PARENT });
    expect(renewed).toBeInstanceOf(WorkspaceLockLost);
    expect(renewed.details).toEqual({ workspaceId: ws, holder: PARENT, heldBy: CHILD });
    expect(released).toEqual({ released: false });
    const item = await readLock(db.client, db.table, ws);
    expect(item?.holder?.S).toBe(CHILD);
    expect(item?.expiresAt?.N).toBe(String(T0_SECONDS + LEASE));
  });

  it('is not shared with another child of the same rotation', async () => {
    const ws = freshWorkspace();
    await acquire(ws, CHILD, T0, PARENT);
    const error = await failure(acquire(ws, SECOND_CHILD, T0 + seconds(60), PARENT));
    expect(error).toBeInstanceOf(WorkspaceBusy);
    expect(await holderOf(ws)).toBe(CHILD);
  });
});

describe('Function: renewWorkspaceLock, racing and failing', () => {
  it('lets either the renewal or the takeover of a lapsed lease win a race, never both', async () => {
    for (let round = 0; round < 10; round++) {
      // Prepare: A's lease ran out a second ago, nobody took the lock yet.
      const ws = freshWorkspace();
      await acquire(ws, A);
      const later = T0 + seconds(LEASE + 1);
      // Act
      const [renewal, takeover] = await Promise.allSettled([renew(ws, A, later), acquire(ws, B, later)]);
      // Assess
      const holder = await holderOf(ws);
      if (renewal.status === 'fulfilled') {
        expect(takeover.status).toBe('rejected');
        expect((takeover as PromiseRejectedResult).reason).toBeInstanceOf(WorkspaceBusy);
        expect(holder).toBe(A);
      } else {
        expect(takeover.status).toBe('fulfilled');
        expect(renewal.reason).toBeInstanceOf(WorkspaceLockLost);
        expect(renewal.reason.details.heldBy).toBe(B);
        expect(holder).toBe(B);
      }
    }
  });

  it('reports a throttled renewal as a TransientError to retry, not as a lost lock', async () => {
    // Prepare
    const table = scripted(() => {
      throw serviceError('ThrottlingException', 400);
    });
    // Act
    const error = await failure(renew(42, A, T0, table.client));
    // Assess
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(
      `DynamoDB ThrottlingException (HTTP 400) while renewing the lock of workspace 42 in lock table ${db.table}`,
    );
    expect(table.sent('GetItem')).toHaveLength(0);
  });

  it('names the execution that took the lock from the item DynamoDB returns with the refusal', async () => {
    // Prepare: DynamoDB returns the item it checked only when asked to (ALL_OLD); read later, the lock is gone.
    const table = scripted((command, input) => {
      if (command === 'UpdateItem') {
        throw conditionFailed(
          input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
            ? lockItem(42, B, T0_SECONDS - 60)
            : undefined,
        );
      }
      return {};
    });
    // Act
    const error = await failure(renew(42, A, T0, table.client));
    // Assess
    expect(error.name).toBe('WorkspaceLockLost');
    expect(error.details).toEqual({ workspaceId: 42, holder: A, heldBy: B });
    expect(table.sent('GetItem')).toHaveLength(0);
  });

  it('tells the operator who took the lock, since when, and what follows', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    await acquire(ws, B, T0 + seconds(LEASE + 5));
    // Act
    const error = await failure(renew(ws, A, T0 + seconds(LEASE + 10)));
    // Assess
    expect(error.message).toBe(
      `execution ${A} lost the lock of workspace ${ws}: execution ${B} holds it since 2026-11-25T17:15:05Z. It must not change the workspace any further, nor restart its compute: what it stopped stays under its open snapshot, which the execution holding the workspace (or the next one) restores. Check that no two rotations ran on the workspace at once (LOCK_LEASE_MINUTES may be too short for the polls).`,
    );
    expect(error.details).toEqual({ workspaceId: ws, holder: A, heldBy: B });
  });

  it('tells the operator when the lock is no longer recorded at all', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    await release(ws, A);
    // Act
    const error = await failure(renew(ws, A, T0 + seconds(60)));
    // Assess
    expect(error.message).toBe(
      `execution ${A} lost the lock of workspace ${ws}: it is no longer recorded (released by the abort rule, or expired and deleted). It must not change the workspace any further, nor restart its compute: what it stopped stays under its open snapshot, which the execution holding the workspace (or the next one) restores. Check that no two rotations ran on the workspace at once (LOCK_LEASE_MINUTES may be too short for the polls).`,
    );
    expect(error.details).toEqual({ workspaceId: ws, holder: A, heldBy: undefined });
    expect(await readLock(db.client, db.table, ws)).toBeUndefined();
  });

  it('names the execution holding a lock item that records no acquiredAt, without a since', async () => {
    const table = scripted(() => {
      throw conditionFailed({ pk: { S: 'lock#42' }, holder: { S: B } });
    });
    const error = await failure(renew(42, A, T0, table.client));
    expect(error.message).toContain(`lost the lock of workspace 42: execution ${B} holds it. It must not`);
  });
});

describe('Function: releaseWorkspaceLock, after a lease ran out', () => {
  it('refuses to release a lock another execution took over once this one’s lease ran out', async () => {
    // Prepare
    const ws = freshWorkspace();
    await acquire(ws, A);
    await acquire(ws, B, T0 + seconds(LEASE));
    // Act
    const result = await release(ws, A);
    // Assess
    expect(result).toEqual({ released: false });
    expect(await holderOf(ws)).toBe(B);
  });

  it('releases its own lapsed lock that nobody took', async () => {
    const ws = freshWorkspace();
    await acquire(ws, A);
    await expect(release(ws, A)).resolves.toEqual({ released: true });
    expect(await readLock(db.client, db.table, ws)).toBeUndefined();
  });

  it('names the lock it was releasing in a lock-table error', async () => {
    const table = scripted(() => {
      throw serviceError('AccessDeniedException', 400);
    });
    const error = await failure(release(42, A, table.client));
    expect(error.name).toBe('LockTableError');
    expect(error.message).toContain(`while releasing lock#42 in lock table ${db.table}`);
  });
});

describe('Function: readLock', () => {
  it('reads strongly consistently, so it sees a lock written a moment ago', async () => {
    // Prepare: an eventually consistent read may miss a write made just before it (DynamoDB's documented
    // read consistency); this table plays the worst case.
    const item = lockItem(42, B, T0_SECONDS);
    const table = scripted((_command, input) => (input.ConsistentRead === true ? { Item: item } : {}));
    // Act
    const read = await readLock(table.client, db.table, 42);
    // Assess
    expect(read).toEqual(item);
  });

  it('names the workspace whose lock it was reading in a lock-table error', async () => {
    const table = scripted(() => {
      throw serviceError('InternalServerError', 500);
    });
    const error = await failure(readLock(table.client, db.table, 42));
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(`while reading the lock of workspace 42 in lock table ${db.table}`);
  });
});

describe('Function: releaseLocksHeldBy, edges', () => {
  it('lists the released locks in workspace order, whichever index found them', async () => {
    // Prepare: the rotation's own lock on the later workspace, its child's on the earlier one.
    const [earlier, later] = [freshWorkspace(), freshWorkspace()];
    const ended = `${ROTATION}:ordered`;
    await acquire(later, ended);
    await acquire(earlier, `${CHILD}-ordered`, T0, ended);
    // Act
    const result = await releaseLocksHeldBy(db.client, db.table, ended);
    // Assess
    expect(result.released).toEqual([
      { workspaceId: earlier, holder: `${CHILD}-ordered` },
      { workspaceId: later, holder: ended },
    ]);
  });

  it('reads every page of an index', async () => {
    // Prepare: the byHolder index answers in two pages.
    const page2Start = { pk: { S: 'lock#1' }, holder: { S: A } };
    const table = scripted((command, input) => {
      if (command === 'Query' && input.IndexName === 'byHolder') {
        if (input.ExclusiveStartKey === undefined)
          return { Items: [page2Start], LastEvaluatedKey: page2Start };
        expect(input.ExclusiveStartKey).toEqual(page2Start);
        return { Items: [{ pk: { S: 'lock#2' }, holder: { S: A } }] };
      }
      if (command === 'Query') return { Items: [] };
      return {};
    });
    // Act
    const result = await releaseLocksHeldBy(table.client, db.table, A);
    // Assess
    expect(result.released).toEqual([
      { workspaceId: 1, holder: A },
      { workspaceId: 2, holder: A },
    ]);
    expect(table.sent('DeleteItem').map((c) => c.input.ExpressionAttributeValues)).toEqual([
      { ':holder': { S: A } },
      { ':holder': { S: A } },
    ]);
  });

  it('deletes no lock whose key or holder the index does not show (a lock is only deleted on its holder)', async () => {
    // Prepare: index entries without the holder, or without the key, as an index that projects less would give.
    const table = scripted((command, input) => {
      if (command === 'Query' && input.IndexName === 'byHolder') return { Items: [{ pk: { S: 'lock#7' } }] };
      if (command === 'Query') return { Items: [{ holder: { S: A } }] };
      return {};
    });
    // Act
    const result = await releaseLocksHeldBy(table.client, db.table, A);
    // Assess
    expect(result.released).toEqual([]);
    expect(table.sent('DeleteItem')).toHaveLength(0);
  });

  it('names the execution and the index it was searching in a lock-table error', async () => {
    const table = scripted(() => {
      throw serviceError('AccessDeniedException', 400);
    });
    const error = await failure(releaseLocksHeldBy(table.client, db.table, A));
    expect(error.name).toBe('LockTableError');
    expect(error.message).toContain(
      `while finding the locks of ${A} (index byHolder) in lock table ${db.table}`,
    );
  });
});

describe('Function: recordEventOnce, racing and failing', () => {
  const record = (eventId: string, holder: string, now = T0, client: SdkClient = db.client) =>
    recordEventOnce(client, db.table, { eventId, holder, ttlSeconds: 60, now });

  it('forgets an event in the very second its record expires, and not a millisecond before', async () => {
    await record('evt-boundary', A);
    await expect(record('evt-boundary', B, T0 + seconds(60) - 1)).resolves.toEqual({
      first: false,
      holder: A,
      at: T0_SECONDS,
    });
    await expect(record('evt-boundary', B, T0 + seconds(60))).resolves.toEqual({ first: true });
  });

  it('records the event when the earlier record was deleted between the refused write and the read', async () => {
    // Prepare
    await record('evt-vanished', A);
    const racing: SdkClient = {
      send: async (command: unknown) => {
        try {
          return await db.client.send(command as PutItemCommand);
        } catch (error) {
          if (command instanceof PutItemCommand) {
            await db.client.send(
              new DeleteItemCommand({ TableName: db.table, Key: { pk: { S: 'event#evt-vanished' } } }),
            );
          }
          throw error;
        }
      },
    };
    // Act
    const answer = await record('evt-vanished', B, T0 + seconds(1), racing);
    // Assess
    expect(answer).toEqual({ first: true });
    await expect(record('evt-vanished', A, T0 + seconds(2))).resolves.toEqual({
      first: false,
      holder: B,
      at: T0_SECONDS + 1,
    });
  });

  it('gives up with a TransientError after three writes when the record keeps vanishing', async () => {
    const table = scripted((command) => {
      if (command === 'PutItem') throw conditionFailed();
      return {};
    });
    const error = await failure(record('e1', A, T0, table.client));
    expect(error.name).toBe('TransientError');
    expect(error.message).toBe('the record of event e1 kept changing while it was written; retry');
    expect(table.sent('PutItem')).toHaveLength(3);
  });

  it('reports a throttled write as a TransientError naming the event, not as a duplicate', async () => {
    // Prepare: a read would find another execution's record.
    const table = scripted((command) => {
      if (command === 'PutItem') throw serviceError('ThrottlingException', 400);
      return { Item: { pk: { S: 'event#e1' }, holder: { S: B }, acquiredAt: { N: '1000' } } };
    });
    // Act
    const error = await failure(record('e1', A, T0, table.client));
    // Assess
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(`while recording event e1 in lock table ${db.table}`);
    expect(table.sent('GetItem')).toHaveLength(0);
  });

  it('names the earlier execution from the item DynamoDB returns with the refusal, without reading again', async () => {
    // Prepare: DynamoDB returns the item it checked only when asked to (ALL_OLD); read later, it is gone.
    const table = scripted((command, input) => {
      if (command === 'PutItem') {
        throw conditionFailed(
          input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
            ? { pk: { S: 'event#e1' }, holder: { S: B }, acquiredAt: { N: '1000' } }
            : undefined,
        );
      }
      return {};
    });
    // Act
    const answer = await record('e1', A, T0, table.client);
    // Assess
    expect(answer).toEqual({ first: false, holder: B, at: 1000 });
    expect(table.sent('GetItem')).toHaveLength(0);
  });

  it('names the event whose record it was reading in a lock-table error', async () => {
    const table = scripted((command) => {
      if (command === 'PutItem') throw conditionFailed();
      throw serviceError('InternalServerError', 500);
    });
    const error = await failure(record('e1', A, T0, table.client));
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(`while reading the record of event e1 in lock table ${db.table}`);
  });
});
