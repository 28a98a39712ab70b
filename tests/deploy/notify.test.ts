import { randomUUID } from 'node:crypto';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/announce-retention.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { TransientError } from '../../lib/errors.ts';
import {
  NotificationFailed,
  publishNotification,
  setNotificationClient,
  snsSubject,
} from '../../lib/notify.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const TOPIC = 'arn:aws:sns:us-east-1:111122223333:cmk-rotator-prod-notifications';
const OLD_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';

const sns = mockClient(SNSClient);
const snsError = (name: string) => Object.assign(new Error(`${name} from SNS`), { name });

const savedEnv = { ...process.env };
beforeEach(() => {
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  setNotificationClient(new SNSClient({ region: 'us-east-1' }));
});
afterEach(() => {
  process.env = { ...savedEnv };
});
afterAll(() => {
  setNotificationClient(undefined);
  sns.restore();
});

describe('publishNotification', () => {
  it('publishes subject and message to the configured topic', async () => {
    // Prepare
    process.env.NOTIFICATION_TOPIC_ARN = TOPIC;
    // Act
    const result = await publishNotification('cmk-rotator: hello', 'the body');
    // Assess
    expect(result).toEqual({ published: true, messageId: 'm-1' });
    expect(sns.commandCalls(PublishCommand).map((c) => c.args[0].input)).toEqual([
      { TopicArn: TOPIC, Subject: 'cmk-rotator: hello', Message: 'the body' },
    ]);
  });

  it('does nothing when no topic is configured', async () => {
    // Prepare
    delete process.env.NOTIFICATION_TOPIC_ARN;
    // Act
    const result = await publishNotification('subject', 'message');
    // Assess
    expect(result).toEqual({ published: false });
    expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
  });

  it('raises TransientError on SNS throttling so the state machine retries', async () => {
    // Prepare
    sns.on(PublishCommand).rejects(snsError('ThrottledException'));
    // Act
    const publishing = publishNotification('subject', 'message', TOPIC);
    // Assess
    await expect(publishing).rejects.toBeInstanceOf(TransientError);
  });

  it('raises NotificationFailed naming the topic when publishing is refused', async () => {
    // Prepare
    sns.on(PublishCommand).rejects(snsError('AuthorizationErrorException'));
    // Act
    const error = await publishNotification('subject', 'message', TOPIC).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(NotificationFailed);
    expect((error as Error).name).toBe('NotificationFailed');
    expect((error as Error).message).toContain(TOPIC);
    expect((error as Error).message).toContain('AuthorizationErrorException');
  });
});

describe('snsSubject', () => {
  it('keeps a short ASCII subject as it is', () => {
    expect(snsSubject('cmk-rotator: old KMS key may be retired')).toBe(
      'cmk-rotator: old KMS key may be retired',
    );
  });

  it('makes a subject one line of printable ASCII under 100 characters', () => {
    // Act
    const subject = snsSubject(`Schlüssel\nrotiert ${'x'.repeat(200)}`);
    // Assess
    expect(subject.length).toBeLessThan(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
    expect(subject.startsWith('Schl?ssel rotiert')).toBe(true);
  });
});

describe('announce-retention', () => {
  const context = {
    functionName: 'announce-retention',
    awsRequestId: randomUUID(),
    getRemainingTimeInMillis: () => 30_000,
  } as unknown as Context;
  const notice = {
    retainUntil: '2026-11-27T12:00:00.000Z',
    lastUpdateAt: Date.parse('2026-11-26T12:00:00.000Z'),
    oldKeyRetentionHours: 24,
    oldKeyArns: [OLD_KEY],
    newKeyArn: NEW_KEY,
    workspaceIds: [1234567890123456],
  };
  const plan = { mode: 'rotate', workspaceCount: 1 };
  const rotations = [{ workspaceId: 1234567890123456, status: 'ROTATED' }];
  const input = { retention: notice, plan, rotations };
  const settingsEnv = {
    DATABRICKS_ACCOUNT_ID: '00000000-0000-0000-0000-000000000000',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
  };

  it('publishes that the old key may be retired, naming old key, new key and workspaces', async () => {
    // Prepare
    Object.assign(process.env, settingsEnv, { NOTIFICATION_TOPIC_ARN: TOPIC });
    // Act
    await handler(input, context);
    // Assess
    const [call] = sns.commandCalls(PublishCommand);
    expect(call?.args[0].input.TopicArn).toBe(TOPIC);
    expect(call?.args[0].input.Subject).toBe('cmk-rotator: old KMS key may be retired');
    expect(call?.args[0].input.Message).toContain(OLD_KEY);
    expect(call?.args[0].input.Message).toContain(NEW_KEY);
    expect(call?.args[0].input.Message).toContain('1234567890123456');
  });

  it('returns the same announcement whether or not a topic is configured', async () => {
    // Prepare
    const fixed: Clock = { now: () => Date.parse('2026-11-27T12:00:05.000Z'), sleep: async () => {} };
    const previousClock = setClock(fixed);
    Object.assign(process.env, settingsEnv, { NOTIFICATION_TOPIC_ARN: TOPIC });
    const withTopic = await handler(input, context);
    delete process.env.NOTIFICATION_TOPIC_ARN;
    // Act
    const withoutTopic = await handler(input, context).finally(() => setClock(previousClock));
    // Assess
    expect(withoutTopic).toEqual(withTopic);
    const result = withTopic as { plan: unknown; rotations: unknown; oldKeyRetirement: object };
    expect(Object.keys(result.oldKeyRetirement).sort()).toEqual([
      'mayBeRetiredSince',
      'message',
      'oldKeyArns',
    ]);
    // The plan and the workspaces' results are handed back unchanged: the rotation's output.
    expect(result.plan).toEqual(plan);
    expect(result.rotations).toEqual(rotations);
    expect(sns.commandCalls(PublishCommand)).toHaveLength(1);
  });
});
