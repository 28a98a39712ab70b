import type { AttributeValue, CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { clip, InvalidSettings, TransientError } from '../errors.ts';
import { LockTableError } from './errors.ts';

/**
 * The lock table (DynamoDB), shared by the workspace locks and the record of handled EventBridge events.
 *
 * Items, keyed by the string partition key `pk`:
 * - `lock#<workspaceId>`: `workspaceId` (N), `holder` (S, the execution ARN that holds it), `rootExecution`
 *   (S, the execution that started the holder: the parent of a child execution, else the holder itself),
 *   `acquiredAt` and `expiresAt` (N, epoch seconds).
 * - `event#<eventId>`: `holder` (the execution that handled the event), `acquiredAt`, `expiresAt`.
 *
 * `expiresAt` is the table's TTL attribute, but DynamoDB deletes expired items lazily (typically within a
 * few days), so every condition checks `expiresAt` itself; TTL only keeps the table small.
 *
 * Two sparse global secondary indexes find what an execution holds when it ends ABORTED, TIMED_OUT or
 * FAILED (`releaseLocksHeldBy`): `byHolder` (holder, pk) for the execution's own locks and
 * `byRootExecution` (rootExecution, pk) for those of its child executions. `pk` is their sort key, so a
 * query can keep to `lock#` items.
 */
export const LOCK_TABLE_SCHEMA: Omit<CreateTableCommandInput, 'TableName'> = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'holder', AttributeType: 'S' },
    { AttributeName: 'rootExecution', AttributeType: 'S' },
  ],
  KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
  GlobalSecondaryIndexes: [
    {
      IndexName: 'byHolder',
      KeySchema: [
        { AttributeName: 'holder', KeyType: 'HASH' },
        { AttributeName: 'pk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    },
    {
      IndexName: 'byRootExecution',
      KeySchema: [
        { AttributeName: 'rootExecution', KeyType: 'HASH' },
        { AttributeName: 'pk', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['holder'] },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
};

/** The table's TTL attribute (the template's TimeToLiveSpecification). */
export const LOCK_TABLE_TTL_ATTRIBUTE = 'expiresAt';

export const LOCK_PREFIX = 'lock#';
export const EVENT_PREFIX = 'event#';

/** A DynamoDB item, as the low-level client reads and writes it. */
export type Item = Record<string, AttributeValue>;

/** Epoch seconds of `now` (epoch ms, the clock of the run). */
export function epochSeconds(now: number): number {
  return Math.floor(now / 1000);
}

/** `2026-11-25T16:45:00Z` for epoch seconds: how messages show lock times. */
export function isoOf(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export function str(item: Item | undefined, name: string): string | undefined {
  return item?.[name]?.S;
}

export function num(item: Item | undefined, name: string): number | undefined {
  const n = item?.[name]?.N;
  return n === undefined ? undefined : Number(n);
}

/** The item a failed conditional write returned (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), if any. */
export function conflictItem(error: unknown): Item | undefined {
  return (error as { Item?: Item } | null)?.Item;
}

export function isConditionFailed(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';
}

const TRANSIENT =
  /Throttl|ProvisionedThroughputExceeded|RequestLimitExceeded|InternalServerError|ServiceUnavailable|TransactionConflict|TimeoutError|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT/;

/**
 * A lock-table error in the operator's words: throttling, 5xx and network failures are `TransientError`
 * (the Task retries them); a missing table is `InvalidSettings` naming LOCK_TABLE; anything else is
 * `LockTableError` naming the table and the call. The SDK error stays as `cause`.
 */
export function lockTableError(error: unknown, table: string, what: string): Error {
  const name = (error as { name?: unknown } | null)?.name;
  const errorName = typeof name === 'string' ? name : 'Error';
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  const message = (error as { message?: unknown } | null)?.message;
  const said = clip(typeof message === 'string' ? message : String(error), 300);
  const text = `DynamoDB ${errorName}${status ? ` (HTTP ${status})` : ''} while ${what} in lock table ${table}: ${said}`;
  const options = { cause: error, details: { table, dynamodbError: errorName } };
  if (errorName === 'ResourceNotFoundException') {
    return new InvalidSettings(
      `setting LOCK_TABLE names ${table}, which DynamoDB does not know in this account and region (or one of its indexes is missing): ${said}`,
      { ...options, details: { ...options.details, field: 'LOCK_TABLE' } },
    );
  }
  if (TRANSIENT.test(errorName) || status === undefined || status >= 500 || status === 429) {
    return new TransientError(text, options);
  }
  return new LockTableError(`${text}; check the table and this function's DynamoDB permissions`, options);
}
