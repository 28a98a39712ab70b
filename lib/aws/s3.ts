import { S3Client } from '@aws-sdk/client-s3';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The S3 client: the one given to `setAwsClients({ s3 })`, else the real one, created on first use and
 * kept for the container. Only a bundle that imports this module holds `@aws-sdk/client-s3`.
 */
export function s3Client(): SdkClient {
  return sharedClient('s3', () => new S3Client({}));
}
