import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { SdkClient } from '../aws/clients.ts';
import { TransientError } from '../errors.ts';
import { WorkspaceBusy, WorkspaceLockLost } from './errors.ts';
import {
  conflictItem,
  epochSeconds,
  type Item,
  isConditionFailed,
  isoOf,
  LOCK_PREFIX,
  lockTableError,
  num,
  str,
} from './table.ts';

/**
 * The per-workspace lease lock (DESIGN §6.6), as the Step Functions semaphore sample builds it: conditional
 * writes on one DynamoDB item per workspace. The holder is an execution ARN (`$$.Execution.Id`), so a retry
 * or a redrive of the same execution finds the lock already its own. A lease ends by release (every path of
 * the rotation, after compensation), by the rule on execution status change (`releaseLocksHeldBy`), or, as
 * the last resort, by expiry.
 */

/** Who holds a workspace lock, and until when (epoch seconds). */
export interface HeldLock {
  holder: string;
  expiresAt: number;
}

export interface AcquireRequest {
  workspaceId: number;
  /** The execution taking the lock (its ARN). */
  holder: string;
  /**
   * The execution that started `holder` (the parent of a child execution), so that ending the parent
   * releases its children's locks too. Defaults to `holder`.
   */
  rootExecution?: string;
  leaseSeconds: number;
  /** Epoch ms (the clock of the run). */
  now: number;
}

// The conditions of the conditional writes, named (as Powertools' idempotency store names its own).
const LOCK_IS_FREE = 'attribute_not_exists(pk)';
const LOCK_HAS_EXPIRED = 'expiresAt <= :now';
const LOCK_IS_OURS = 'holder = :holder';

/** Attempts at taking a lock whose conflicting holder vanished between the write and the read. */
const ACQUIRE_ATTEMPTS = 3;

const lockKey = (workspaceId: number) => ({ pk: { S: `${LOCK_PREFIX}${workspaceId}` } });

/**
 * Takes the workspace's lock for `leaseSeconds`: when it is free, expired, or already held by `holder`
 * (a retried or redriven Task renews it). Held by another execution: `WorkspaceBusy` naming that execution
 * and since when, with nothing written.
 */
export async function acquireWorkspaceLock(
  client: SdkClient,
  table: string,
  request: AcquireRequest,
): Promise<HeldLock> {
  const { workspaceId, holder } = request;
  for (let attempt = 1; ; attempt++) {
    const now = epochSeconds(request.now);
    const expiresAt = now + request.leaseSeconds;
    try {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            ...lockKey(workspaceId),
            workspaceId: { N: String(workspaceId) },
            holder: { S: holder },
            rootExecution: { S: request.rootExecution ?? holder },
            acquiredAt: { N: String(now) },
            expiresAt: { N: String(expiresAt) },
          },
          ConditionExpression: `${LOCK_IS_FREE} OR ${LOCK_HAS_EXPIRED} OR ${LOCK_IS_OURS}`,
          ExpressionAttributeValues: { ':now': { N: String(now) }, ':holder': { S: holder } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { holder, expiresAt };
    } catch (error) {
      if (!isConditionFailed(error)) throw lockTableError(error, table, `locking workspace ${workspaceId}`);
      // DynamoDB returns the conflicting item; an implementation that does not (dynalite) is read back.
      const current = conflictItem(error) ?? (await readLock(client, table, workspaceId));
      const other = str(current, 'holder');
      if (other !== undefined && other !== holder && (num(current, 'expiresAt') ?? 0) > now) {
        throw busy(workspaceId, current as Item);
      }
      // Released or expired between the write and the read: try again.
      if (attempt >= ACQUIRE_ATTEMPTS) {
        throw new TransientError(
          `the lock of workspace ${workspaceId} changed hands ${attempt} times while this execution tried to take it; retry`,
          { details: { workspaceId } },
        );
      }
    }
  }
}

/**
 * Extends the lease of a lock `holder` holds (even one whose lease ran out, as long as nobody took it since).
 * Held by another execution now, or gone (released, or expired and deleted): `WorkspaceLockLost`.
 */
export async function renewWorkspaceLock(
  client: SdkClient,
  table: string,
  request: { workspaceId: number; holder: string; leaseSeconds: number; now: number },
): Promise<HeldLock> {
  const { workspaceId, holder } = request;
  const expiresAt = epochSeconds(request.now) + request.leaseSeconds;
  try {
    await client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: lockKey(workspaceId),
        UpdateExpression: 'SET expiresAt = :expiresAt',
        ConditionExpression: LOCK_IS_OURS,
        ExpressionAttributeValues: { ':expiresAt': { N: String(expiresAt) }, ':holder': { S: holder } },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { holder, expiresAt };
  } catch (error) {
    if (!isConditionFailed(error))
      throw lockTableError(error, table, `renewing the lock of workspace ${workspaceId}`);
    const current = conflictItem(error) ?? (await readLock(client, table, workspaceId));
    throw lost(workspaceId, holder, current);
  }
}

/**
 * Releases the workspace's lock if `holder` holds it. A lock held by another execution, or none, is left
 * alone and is not an error (a release is retried and may come after the abort rule's): `released` says
 * whether this call removed it.
 */
export async function releaseWorkspaceLock(
  client: SdkClient,
  table: string,
  request: { workspaceId: number; holder: string },
): Promise<{ released: boolean }> {
  return {
    released: await deleteIfHeld(client, table, `${LOCK_PREFIX}${request.workspaceId}`, request.holder),
  };
}

/**
 * Releases every lock that execution `executionArn` holds, and those of the executions it started (their
 * `rootExecution`): what the rule on execution status change (ABORTED, TIMED_OUT, FAILED) calls, since
 * such an execution never reaches its own release. Each delete is conditional on the holder the index
 * showed, so a lock taken over meanwhile stays. The indexes are eventually consistent: a lock taken in
 * the last second before the execution ended may be missed, and then expires.
 */
export async function releaseLocksHeldBy(
  client: SdkClient,
  table: string,
  executionArn: string,
): Promise<{ released: { workspaceId: number; holder: string }[] }> {
  const found = new Map<string, string>();
  for (const [index, attribute] of [
    ['byHolder', 'holder'],
    ['byRootExecution', 'rootExecution'],
  ] as const) {
    for (const item of await queryIndex(client, table, index, attribute, executionArn)) {
      const pk = str(item, 'pk');
      const holder = str(item, 'holder');
      if (pk !== undefined && holder !== undefined) found.set(pk, holder);
    }
  }
  const released: { workspaceId: number; holder: string }[] = [];
  for (const [pk, holder] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    if (await deleteIfHeld(client, table, pk, holder)) {
      released.push({ workspaceId: Number(pk.slice(LOCK_PREFIX.length)), holder });
    }
  }
  return { released };
}

/** The lock item of a workspace (consistent read), if any. */
export async function readLock(
  client: SdkClient,
  table: string,
  workspaceId: number,
): Promise<Item | undefined> {
  try {
    const answer = await client.send(
      new GetItemCommand({ TableName: table, Key: lockKey(workspaceId), ConsistentRead: true }),
    );
    return answer.Item as Item | undefined;
  } catch (error) {
    throw lockTableError(error, table, `reading the lock of workspace ${workspaceId}`);
  }
}

async function deleteIfHeld(client: SdkClient, table: string, pk: string, holder: string): Promise<boolean> {
  try {
    await client.send(
      new DeleteItemCommand({
        TableName: table,
        Key: { pk: { S: pk } },
        ConditionExpression: LOCK_IS_OURS,
        ExpressionAttributeValues: { ':holder': { S: holder } },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw lockTableError(error, table, `releasing ${pk}`);
  }
}

async function queryIndex(
  client: SdkClient,
  table: string,
  index: string,
  attribute: string,
  value: string,
): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    try {
      const page = await client.send(
        new QueryCommand({
          TableName: table,
          IndexName: index,
          KeyConditionExpression: '#key = :value AND begins_with(pk, :lock)',
          ExpressionAttributeNames: { '#key': attribute },
          ExpressionAttributeValues: { ':value': { S: value }, ':lock': { S: LOCK_PREFIX } },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...((page.Items ?? []) as Item[]));
      start = page.LastEvaluatedKey as Item | undefined;
    } catch (error) {
      throw lockTableError(error, table, `finding the locks of ${value} (index ${index})`);
    }
  } while (start);
  return items;
}

function busy(workspaceId: number, current: Item): WorkspaceBusy {
  const holder = str(current, 'holder') as string;
  const acquiredAt = num(current, 'acquiredAt');
  const expiresAt = num(current, 'expiresAt');
  const root = str(current, 'rootExecution');
  const since = acquiredAt === undefined ? '' : ` since ${isoOf(acquiredAt)}`;
  const until = expiresAt === undefined ? '' : `, lease until ${isoOf(expiresAt)}`;
  // The rotation an operator started (or EventBridge did) is the root; the holder is its workspace execution.
  const startedBy =
    root === undefined || root === holder ? '' : ` (the workspace execution of rotation ${root})`;
  return new WorkspaceBusy(
    `workspace ${workspaceId} is locked by execution ${holder}${startedBy}${since}${until}; this execution touched nothing. Let that execution finish (or stop it: its lock is then released), then start again, or start with "waitForLock": true to wait for it.`,
    { details: { workspaceId, holder, rootExecution: root, acquiredAt, expiresAt } },
  );
}

function lost(workspaceId: number, holder: string, current: Item | undefined): WorkspaceLockLost {
  const other = str(current, 'holder');
  const acquiredAt = num(current, 'acquiredAt');
  const now =
    other === undefined
      ? 'it is no longer recorded (released by the abort rule, or expired and deleted)'
      : `execution ${other} holds it${acquiredAt === undefined ? '' : ` since ${isoOf(acquiredAt)}`}`;
  return new WorkspaceLockLost(
    `execution ${holder} lost the lock of workspace ${workspaceId}: ${now}. It must not change the workspace any further, nor restart its compute: what it stopped stays under its open snapshot, which the execution holding the workspace (or the next one) restores. Check that no two rotations ran on the workspace at once (LOCK_LEASE_MINUTES may be too short for the polls).`,
    { details: { workspaceId, holder, heldBy: other } },
  );
}

/**
 * `WorkspaceLockLost` for an execution that held the lock, found it lapsed, and lost the race to take it
 * back (`busy` is the refusal of its retake): mid-rotation, "touched nothing" would be false.
 */
export function lockLostTo(workspaceId: number, holder: string, busy: WorkspaceBusy): WorkspaceLockLost {
  const details = (busy.details ?? {}) as { holder?: unknown; acquiredAt?: unknown };
  const current: Item = {};
  if (typeof details.holder === 'string') current.holder = { S: details.holder };
  if (typeof details.acquiredAt === 'number') current.acquiredAt = { N: String(details.acquiredAt) };
  return lost(workspaceId, holder, current);
}
