import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The Secrets Manager client: the one given to `setAwsClients({ secretsManager })`, else the real one,
 * created on first use and kept for the container. Only a bundle that imports this module holds
 * `@aws-sdk/client-secrets-manager`.
 */
export function secretsManagerClient(): SdkClient {
  return sharedClient('secretsManager', () => new SecretsManagerClient({}));
}
