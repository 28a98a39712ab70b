import { dynamodbClient } from './dynamodb.ts';
import { kmsClient } from './kms.ts';
import { secretsManagerClient } from './secrets-manager.ts';
import type { AwsClients } from './shared.ts';

/**
 * The AWS clients, one module per client so that a function bundles only those it sends commands to
 * (DESIGN §9): `kmsClient()` from lib/aws/kms.ts, `secretsManagerClient()` from secrets-manager.ts,
 * `dynamodbClient()` from dynamodb.ts, `s3Client()` from s3.ts, `snsClient()` from sns.ts, `sfnClient()`
 * from sfn.ts. Each is created on first use, once per container; `setAwsClients` replaces any of them.
 */
export { type AwsClients, replaceAwsClient, type SdkClient, setAwsClients } from './shared.ts';

/**
 * The KMS, Secrets Manager and DynamoDB clients as one object, each created when first read.
 *
 * @deprecated Whatever imports this bundles all three SDK clients, used or not: import the one client you
 * send commands to instead (`secretsManagerClient()` from lib/aws/secrets-manager.ts, …).
 */
export function awsClients(): Pick<AwsClients, 'kms' | 'secretsManager' | 'dynamodb'> {
  return {
    get kms() {
      return kmsClient();
    },
    get secretsManager() {
      return secretsManagerClient();
    },
    get dynamodb() {
      return dynamodbClient();
    },
  };
}
