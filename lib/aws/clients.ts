import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * The narrow shape of an AWS SDK v3 client the domain needs: `send(command)`. The real clients satisfy it,
 * and so do the local stand-ins (local/aws) that answer the same commands with the same error names.
 */
export interface SdkClient {
  // biome-ignore lint/suspicious/noExplicitAny: AWS SDK commands are heterogeneous; callers type the result.
  send(command: any): Promise<any>;
}

export interface AwsClients {
  kms: SdkClient;
  secretsManager: SdkClient;
  /** The workspace lock and the event ledger (lib/lock); locally a client pointed at dynalite. */
  dynamodb: SdkClient;
}

let clients: AwsClients | undefined;

/** The AWS clients, created once per container on first use. */
export function awsClients(): AwsClients {
  clients ??= {
    kms: new KMSClient({}),
    secretsManager: new SecretsManagerClient({}),
    dynamodb: new DynamoDBClient({}),
  };
  return clients;
}

/** Replace some or all clients (local runner, tests). */
export function setAwsClients(next: Partial<AwsClients>): void {
  // Build the real clients only for what is not replaced.
  const kms = next.kms ?? clients?.kms ?? new KMSClient({});
  const secretsManager = next.secretsManager ?? clients?.secretsManager ?? new SecretsManagerClient({});
  const dynamodb = next.dynamodb ?? clients?.dynamodb ?? new DynamoDBClient({});
  clients = { kms, secretsManager, dynamodb };
}
