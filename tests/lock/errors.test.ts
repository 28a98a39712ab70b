import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  DynamoDBServiceException,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireWorkspaceLock, recordEventOnce, releaseWorkspaceLock } from '../../lib/lock/index.ts';

const T0 = Date.parse('2026-11-25T16:45:00Z');
const HOLDER = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-abc';
const OTHER = 'arn:aws:states:us-east-1:111122223333:execution:rotate-one-workspace-prod:42-def';

const dynamodb = mockClient(DynamoDBClient);
afterEach(() => dynamodb.reset());

const serviceError = (name: string, status: number) =>
  new DynamoDBServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message: `${name} said no`,
  });
const acquire = () =>
  acquireWorkspaceLock(new DynamoDBClient({}), 'locks', {
    workspaceId: 42,
    holder: HOLDER,
    leaseSeconds: 1800,
    now: T0,
  }).then(
    () => {
      throw new Error('expected acquireWorkspaceLock to fail');
    },
    (e: Error) => e,
  );

describe('Lock table errors', () => {
  it('names the holder from the item DynamoDB returns with the conflict, without reading it again', async () => {
    // Prepare
    dynamodb.on(PutItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        Item: {
          pk: { S: 'lock#42' },
          holder: { S: OTHER },
          acquiredAt: { N: String(T0 / 1000 - 60) },
          expiresAt: { N: String(T0 / 1000 + 600) },
        },
      }),
    );
    // Act
    const error = await acquire();
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.message).toContain(`locked by execution ${OTHER} since 2026-11-25T16:44:00Z`);
    expect(dynamodb.commandCalls(GetItemCommand)).toHaveLength(0);
    expect(dynamodb.commandCalls(PutItemCommand)[0]?.args[0].input).toMatchObject({
      ConditionExpression: 'attribute_not_exists(pk) OR expiresAt <= :now OR holder = :holder',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    });
  });

  it.each([
    ['ProvisionedThroughputExceededException', 400],
    ['ThrottlingException', 400],
    ['InternalServerError', 500],
  ])('makes %s a TransientError, which the state machine retries', async (name, status) => {
    dynamodb.on(PutItemCommand).rejects(serviceError(name, status));
    const error = await acquire();
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain(`DynamoDB ${name}`);
    expect(error.message).toContain('lock table locks');
  });

  it('makes a missing table InvalidSettings naming LOCK_TABLE', async () => {
    dynamodb.on(PutItemCommand).rejects(serviceError('ResourceNotFoundException', 400));
    const error = (await acquire()) as Error & { details?: Record<string, unknown> };
    expect(error.name).toBe('InvalidSettings');
    expect(error.details?.field).toBe('LOCK_TABLE');
  });

  it('makes access denied a LockTableError that points at the permissions', async () => {
    dynamodb.on(PutItemCommand).rejects(serviceError('AccessDeniedException', 400));
    const error = await acquire();
    expect(error.name).toBe('LockTableError');
    expect(error.message).toContain("this function's DynamoDB permissions");
  });

  it('does not let a failing release pass for a lock that was not ours', async () => {
    dynamodb.onAnyCommand().rejects(serviceError('InternalServerError', 500));
    const error = await releaseWorkspaceLock(new DynamoDBClient({}), 'locks', {
      workspaceId: 42,
      holder: HOLDER,
    }).catch((e: Error) => e);
    expect((error as Error).name).toBe('TransientError');
  });

  it('reads the earlier execution of a duplicate event from the conflict', async () => {
    dynamodb.on(PutItemCommand).rejects(
      new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: { httpStatusCode: 400 },
        Item: { pk: { S: 'event#e1' }, holder: { S: OTHER }, acquiredAt: { N: '1000' } },
      }),
    );
    await expect(
      recordEventOnce(new DynamoDBClient({}), 'locks', {
        eventId: 'e1',
        holder: HOLDER,
        ttlSeconds: 60,
        now: T0,
      }),
    ).resolves.toEqual({ first: false, holder: OTHER, at: 1000 });
  });
});
