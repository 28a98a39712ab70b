import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { SdkClient } from '../aws/clients.ts';
import { TransientError } from '../errors.ts';
import {
  conflictItem,
  EVENT_PREFIX,
  epochSeconds,
  type Item,
  isConditionFailed,
  lockTableError,
  num,
  str,
} from './table.ts';

/**
 * How long a handled event id is remembered. EventBridge delivers at least once and retries a delivery for
 * at most 24 hours (a target's MaximumEventAgeInSeconds), so a duplicate comes within a day; a week is margin.
 */
export const EVENT_RECORD_TTL_SECONDS = 7 * 24 * 3600;

/** First sight of an event, or the execution that handled it already and when (epoch seconds). */
export type EventRecord = { first: true } | { first: false; holder: string; at: number };

/** Attempts when the earlier record vanished between the write and the read. */
const RECORD_ATTEMPTS = 3;

/**
 * Records that execution `holder` handles EventBridge event `eventId` (DESIGN §3: "the same event delivered
 * twice rotates at most once"). `first: true` the first time, and again for the same `holder` (a retried
 * or redriven plan); `first: false` with the earlier execution for a duplicate delivery. A record older
 * than its `ttlSeconds` counts as gone, as DynamoDB's TTL will eventually make it.
 */
export async function recordEventOnce(
  client: SdkClient,
  table: string,
  request: { eventId: string; holder: string; ttlSeconds: number; now: number },
): Promise<EventRecord> {
  const { eventId, holder } = request;
  const now = epochSeconds(request.now);
  const key = { pk: { S: `${EVENT_PREFIX}${eventId}` } };
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            ...key,
            holder: { S: holder },
            acquiredAt: { N: String(now) },
            expiresAt: { N: String(now + request.ttlSeconds) },
          },
          // never seen, seen by this very execution (a retry), or remembered longer than asked
          ConditionExpression: 'attribute_not_exists(pk) OR holder = :holder OR expiresAt <= :now',
          ExpressionAttributeValues: { ':holder': { S: holder }, ':now': { N: String(now) } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { first: true };
    } catch (error) {
      if (!isConditionFailed(error)) throw lockTableError(error, table, `recording event ${eventId}`);
      const earlier = conflictItem(error) ?? (await readRecord(client, table, key, eventId));
      const other = str(earlier, 'holder');
      if (other !== undefined) return { first: false, holder: other, at: num(earlier, 'acquiredAt') ?? now };
      if (attempt >= RECORD_ATTEMPTS) {
        throw new TransientError(`the record of event ${eventId} kept changing while it was written; retry`);
      }
    }
  }
}

async function readRecord(
  client: SdkClient,
  table: string,
  key: Item,
  eventId: string,
): Promise<Item | undefined> {
  try {
    return (await client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true })))
      .Item as Item | undefined;
  } catch (error) {
    throw lockTableError(error, table, `reading the record of event ${eventId}`);
  }
}
