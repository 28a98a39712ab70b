import { KMSClient } from '@aws-sdk/client-kms';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The KMS client: the one given to `setAwsClients({ kms })`, else the real one, created on first use and
 * kept for the container. Only a bundle that imports this module holds `@aws-sdk/client-kms`.
 */
export function kmsClient(): SdkClient {
  return sharedClient('kms', () => new KMSClient({}));
}
