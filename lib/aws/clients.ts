/**
 * The AWS clients, one module per client so that a function bundles only those it sends commands to
 * (DESIGN §9): `kmsClient()` from lib/aws/kms.ts, `secretsManagerClient()` from secrets-manager.ts,
 * `dynamodbClient()` from dynamodb.ts, `s3Client()` from s3.ts, `snsClient()` from sns.ts, `sfnClient()`
 * from sfn.ts. Each is created on first use, once per container; `setAwsClients` replaces any of them.
 */
export { type AwsClients, replaceAwsClient, type SdkClient, setAwsClients } from './shared.ts';
