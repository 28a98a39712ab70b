import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type SdkClient, sharedClient } from './shared.ts';

/**
 * The DynamoDB client: the one given to `setAwsClients({ dynamodb })`, else the real one,
 * created on first use and kept for the container. Only a bundle that imports this module holds
 * `@aws-sdk/client-dynamodb`.
 */
export function dynamodbClient(): SdkClient {
  return sharedClient('dynamodb', () => new DynamoDBClient({}));
}
