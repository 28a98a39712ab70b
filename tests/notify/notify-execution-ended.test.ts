import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/notify-execution-ended.ts';
import { setNotificationClient } from '../../lib/notify.ts';
import { setExecutionsClient } from '../../lib/notify-format.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const TOPIC = 'arn:aws:sns:us-east-1:111122223333:cmk-rotator-prod-notifications';
const SETTINGS = {
  DATABRICKS_ACCOUNT_ID: '00000000-0000-0000-0000-000000000000',
  DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
  NOTIFICATION_TOPIC_ARN: TOPIC,
};
const context = {
  functionName: 'notify-execution-ended',
  awsRequestId: randomUUID(),
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

// biome-ignore lint/suspicious/noExplicitAny: an EventBridge event is untyped JSON.
type Json = any;
/** The repository's fixture: a FAILED execution of the rotation, as EventBridge delivers it. */
const fixture = (): Json =>
  JSON.parse(readFileSync(new URL('../fixtures/events/sfn-execution-failed.json', import.meta.url), 'utf8'));

/** What a CloudTrail-triggered execution's input holds: who called, from where, with which credentials. */
const CALLER = {
  userIdentity: {
    type: 'AssumedRole',
    principalId: 'AROAEXAMPLEPRINCIPAL1:alice@example.com',
    arn: 'arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com',
    accessKeyId: 'ASIAEXAMPLEACCESSKEY',
  },
  sourceIPAddress: '203.0.113.45',
  userAgent: 'aws-cli/2.15.0 Python/3.11',
};
const TRIGGER_INPUT = JSON.stringify({
  version: '0',
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.kms',
  detail: { eventName: 'DisableKey', ...CALLER, requestParameters: { keyId: 'k-1' } },
});
/** Anything of the input that must never reach a message. */
const LEAKS = [
  'alice',
  'example.com',
  '203.0.113.45',
  'ASIAEXAMPLEACCESSKEY',
  'AROAEXAMPLEPRINCIPAL1',
  'aws-cli/2.15.0',
  'userIdentity',
  'sourceIPAddress',
  'requestParameters',
  'keyAlias',
  'alias/databricks-managed-services',
];

const sfn = mockClient(SFNClient);
const sns = mockClient(SNSClient);
const savedEnv = { ...process.env };

beforeEach(() => {
  sfn.reset();
  sns.reset();
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  setExecutionsClient(new SFNClient({ region: 'us-east-1' }));
  setNotificationClient(new SNSClient({ region: 'us-east-1' }));
  Object.assign(process.env, SETTINGS);
});
afterEach(() => {
  process.env = { ...savedEnv };
});
afterAll(() => {
  setExecutionsClient(undefined);
  setNotificationClient(undefined);
  sfn.restore();
  sns.restore();
});

const published = () => sns.commandCalls(PublishCommand).map((c) => c.args[0].input);

describe('notify-execution-ended', () => {
  it('reads the error and cause from the execution when the event lacks them, and never sends its input', async () => {
    // Prepare: the event carries the caller in its input; so does the execution DescribeExecution returns.
    const event = fixture();
    event.detail.input = TRIGGER_INPUT;
    event.detail.error = null;
    event.detail.cause = null;
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: event.detail.executionArn,
      stateMachineArn: event.detail.stateMachineArn,
      status: 'FAILED',
      startDate: new Date(event.detail.startDate),
      input: TRIGGER_INPUT,
      output: JSON.stringify({ echo: CALLER }),
      error: 'KeyInUseDisabled',
      cause: JSON.stringify({
        errorType: 'KeyInUseDisabled',
        errorMessage:
          'KMS key arn:aws:kms:us-east-1:111122223333:key/k-1 is Disabled (DisableKey) and still was 10 min later, and workspace(s) 1234567890123456 use it. Undo it: aws kms enable-key --key-id arn:aws:kms:us-east-1:111122223333:key/k-1 --region us-east-1.',
        trace: ['KeyInUseDisabled: …', '    at plan (file:///var/task/index.mjs:1:2)'],
      }),
    });
    // Act
    const result = await handler(event, context);
    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input)).toEqual([
      { executionArn: event.detail.executionArn },
    ]);
    expect(result).toMatchObject({ status: 'FAILED', described: true, published: true, messageId: 'm-1' });
    const [message] = published();
    expect(message?.TopicArn).toBe(TOPIC);
    expect(message?.Subject).toBe('cmk-rotator: manual-2026-11-26 FAILED (KeyInUseDisabled)');
    expect(message?.Message).toContain('execution manual-2026-11-26 ended FAILED');
    expect(message?.Message).toContain('Error: KeyInUseDisabled');
    expect(message?.Message).toContain('workspace(s) 1234567890123456 use it');
    expect(message?.Message).toContain('aws kms enable-key');
    expect(message?.Message).toContain(
      `https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/${event.detail.executionArn}`,
    );
    for (const leak of LEAKS) expect(message?.Message, leak).not.toContain(leak);
    expect(message?.Message).not.toContain(TRIGGER_INPUT);
    expect(message?.Message).not.toContain(fixture().detail.input);
  });

  it('does not call DescribeExecution when the event carries the error and the cause', async () => {
    // Prepare
    const event = fixture();
    event.detail.input = TRIGGER_INPUT;
    event.detail.error = 'WorkspaceBusy';
    event.detail.cause = 'workspace 1234567890123456 is being rotated by execution x since 12:00';
    // Act
    const result = await handler(event, context);
    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    expect(result).toMatchObject({ described: false, published: true });
    const [message] = published();
    expect(message?.Message).toContain('Cause: workspace 1234567890123456 is being rotated');
    for (const leak of LEAKS) expect(message?.Message, leak).not.toContain(leak);
  });

  it('still publishes, saying so, when the execution cannot be read', async () => {
    // Prepare
    const event = fixture();
    event.detail.status = 'ABORTED';
    sfn
      .on(DescribeExecutionCommand)
      .rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    // Act
    const result = await handler(event, context);
    // Assess
    expect(result).toMatchObject({ status: 'ABORTED', described: true, published: true });
    const [message] = published();
    expect(message?.Message).toContain('could not be read from the execution (AccessDeniedException)');
    expect(message?.Message).toContain('may still be stopped');
    for (const leak of LEAKS) expect(message?.Message, leak).not.toContain(leak);
  });

  it('announces a success without reading the execution', async () => {
    // Prepare
    const event = fixture();
    event.detail.status = 'SUCCEEDED';
    event.detail.output = JSON.stringify({
      oldKeyArns: ['arn:aws:kms:us-east-1:111122223333:key/old'],
      ...CALLER,
    });
    // Act
    await handler(event, context);
    // Assess
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
    const [message] = published();
    expect(message?.Subject).toBe('cmk-rotator: manual-2026-11-26 SUCCEEDED');
    for (const leak of LEAKS) expect(message?.Message, leak).not.toContain(leak);
  });

  it('fails when the message cannot be published, so that Lambda retries and then dead-letters the event', async () => {
    // Prepare
    const event = fixture();
    event.detail.error = 'X';
    event.detail.cause = 'y';
    sns
      .on(PublishCommand)
      .rejects(Object.assign(new Error('denied'), { name: 'AuthorizationErrorException' }));
    // Act
    const error = await handler(event, context).catch((e: unknown) => e);
    // Assess
    expect((error as Error).name).toBe('NotificationFailed');
    expect((error as Error).message).not.toContain('alias/databricks-managed-services');
  });

  it('refuses an event that is not an execution status change, naming the field', async () => {
    // Act
    const error = await handler({ source: 'aws.kms', detail: {} }, context).catch((e: unknown) => e);
    // Assess
    expect((error as Error).name).toBe('InvalidInput');
    expect(published()).toHaveLength(0);
  });
});
