import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { LOCK_TABLE_SCHEMA } from '../../lib/lock/index.ts';

/** The lock table (lib/lock) in an embedded DynamoDB, and a real SDK client pointed at it. */
export interface LocalLockTable {
  /** A DynamoDB client for `setAwsClients({ dynamodb })`. */
  client: DynamoDBClient;
  /** The table's name, for LOCK_TABLE. */
  table: string;
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Stops the server and the client (the data is gone: it lived in memory). */
  close(): Promise<void>;
}

/**
 * Starts `dynalite` (DynamoDB's API over HTTP, data in memory) on a free loopback port and creates the lock
 * table with the key schema and indexes the deployment gives it (`LOCK_TABLE_SCHEMA`), so local runs and
 * tests exercise the same DynamoDB calls, conditions and error names as AWS. Time never comes from
 * DynamoDB: every condition compares with the `now` the product passes, so the simulated clock rules.
 */
export async function startLocalLockTable(table = 'cmk-rotator-local-locks'): Promise<LocalLockTable> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    await client.send(new CreateTableCommand({ TableName: table, ...LOCK_TABLE_SCHEMA }));
  } catch (error) {
    client.destroy();
    server.close();
    throw error;
  }
  return {
    client,
    table,
    endpoint,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
