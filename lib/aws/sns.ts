import { SNSClient } from '@aws-sdk/client-sns';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The SNS client: the one given to `setAwsClients({ sns })`, else the real one, created on first use and
 * kept for the container. Only a bundle that imports this module holds `@aws-sdk/client-sns`.
 */
export function snsClient(): SdkClient {
  return sharedClient('sns', () => new SNSClient({}));
}
