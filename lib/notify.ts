import { PublishCommand } from '@aws-sdk/client-sns';
import { replaceAwsClient, type SdkClient } from './aws/shared.ts';
import { snsClient } from './aws/sns.ts';
import { RotatorError, TransientError } from './errors.ts';

/** Publishing to the notification topic failed for a reason a retry will not fix (permissions, topic, key). */
export class NotificationFailed extends RotatorError {}

/** SNS errors worth a retry by the state machine (it retries `TransientError`). */
const TRANSIENT_SNS_ERRORS = new Set([
  'ThrottledException',
  'InternalErrorException',
  'KMSThrottlingException',
  'ServiceUnavailable',
  'TimeoutError',
]);

/** Replace the SNS client (tests, local runs); `undefined` goes back to the real one. */
export function setNotificationClient(next: SdkClient | undefined): void {
  replaceAwsClient('sns', next);
}

export interface PublishResult {
  published: boolean;
  messageId?: string;
}

/**
 * Publishes `message` to the deployment's notification topic (`NOTIFICATION_TOPIC_ARN`); a no-op when no
 * topic is configured (local mode, tests). The subject is made to fit SNS' rules for e-mail subjects
 * (ASCII, one line, under 100 characters). Throttling and SNS-internal errors raise `TransientError` so the
 * state machine retries; anything else raises `NotificationFailed` naming the topic.
 */
export async function publishNotification(
  subject: string,
  message: string,
  topicArn: string | undefined = process.env.NOTIFICATION_TOPIC_ARN,
): Promise<PublishResult> {
  if (topicArn === undefined || topicArn === '') return { published: false };
  try {
    const out = await snsClient().send(
      new PublishCommand({ TopicArn: topicArn, Subject: snsSubject(subject), Message: message }),
    );
    return { published: true, messageId: out?.MessageId };
  } catch (error) {
    const name = (error as { name?: string } | null)?.name ?? 'Error';
    const what = `publishing to SNS topic ${topicArn} failed with ${name}`;
    if (TRANSIENT_SNS_ERRORS.has(name)) throw new TransientError(what, { cause: error });
    throw new NotificationFailed(
      `${what}; check that the topic exists and that the function's role may sns:Publish to it (and use its KMS key, if encrypted)`,
      { cause: error, details: { topicArn, errorName: name } },
    );
  }
}

/** SNS e-mail subjects: printable ASCII, no line breaks, fewer than 100 characters. */
export function snsSubject(subject: string): string {
  const ascii = subject
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  const text = ascii === '' ? 'cmk-rotator notification' : ascii;
  return text.length < 100 ? text : `${text.slice(0, 96)}...`;
}
