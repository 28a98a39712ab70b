/**
 * What the per-client modules (lib/aws/kms.ts, dynamodb.ts, …) share: the `SdkClient` shape, the clients
 * created so far and those replaced by `setAwsClients`. This module imports no SDK package: a function
 * bundles an AWS SDK client only when it imports that client's module (DESIGN §9).
 */

/**
 * The narrow shape of an AWS SDK v3 client the domain needs: `send(command)`. The real clients satisfy it,
 * and so do the local stand-ins (local/aws) that answer the same commands with the same error names.
 */
export interface SdkClient {
  // biome-ignore lint/suspicious/noExplicitAny: AWS SDK commands are heterogeneous; callers type the result.
  send(command: any): Promise<any>;
}

/** Every AWS client the functions use, by the name `setAwsClients` replaces it under. */
export interface AwsClients {
  kms: SdkClient;
  secretsManager: SdkClient;
  /** The workspace lock and the event ledger (lib/lock); locally a client pointed at dynalite. */
  dynamodb: SdkClient;
  /** Compute snapshots and long plans (lib/compute/snapshot-store.ts). */
  s3: SdkClient;
  /** The notification topic (lib/notify.ts). */
  sns: SdkClient;
  /** DescribeExecution for the end-of-rotation notice (lib/notify-format.ts). */
  sfn: SdkClient;
}

const replaced: Partial<AwsClients> = {};
const created: Partial<AwsClients> = {};

/**
 * The client `name`: the one given to `setAwsClients` if any, else the real one, built by `create` on first
 * use and kept for the life of the container.
 */
export function sharedClient(name: keyof AwsClients, create: () => SdkClient): SdkClient {
  const client = replaced[name] ?? created[name] ?? create();
  if (replaced[name] === undefined) created[name] = client;
  return client;
}

/** Replace some clients (local runner, tests); a client left out, or `undefined`, keeps the current one. */
export function setAwsClients(next: Partial<AwsClients>): void {
  for (const [name, client] of Object.entries(next) as Array<[keyof AwsClients, SdkClient | undefined]>) {
    if (client !== undefined) replaced[name] = client;
  }
}

/** Replace one client, or with `undefined` go back to the real one (tests, local runs). */
export function replaceAwsClient(name: keyof AwsClients, client: SdkClient | undefined): void {
  if (client === undefined) delete replaced[name];
  else replaced[name] = client;
}
