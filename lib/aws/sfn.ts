import { SFNClient } from '@aws-sdk/client-sfn';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The Step Functions client: the one given to `setAwsClients({ sfn })`, else the real one,
 * created on first use and kept for the container. Only a bundle that imports this module holds
 * `@aws-sdk/client-sfn`.
 */
export function sfnClient(): SdkClient {
  return sharedClient('sfn', () => new SFNClient({}));
}
