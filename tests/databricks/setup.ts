import { afterEach, beforeEach } from 'vitest';
import { type Clock, setClock } from '../../lib/clock.ts';
import { DatabricksClient, type DatabricksClientOptions } from '../../lib/databricks/client.ts';
import { type FakeServer, fakeClock } from './fake-server.ts';

export const ACCOUNT_ID = 'a1b2c3d4-0000-4000-8000-000000000001';
export const CLIENT_ID = 'sp-client-id';
export const CLIENT_SECRET = 'dose-super-secret-value-42';

/** A client pointed at the fake, with half-way jitter so backoff waits are predictable. */
export function clientFor(
  fake: FakeServer,
  options: Partial<DatabricksClientOptions> = {},
): DatabricksClient {
  return new DatabricksClient({
    accountId: ACCOUNT_ID,
    accountsHost: fake.url,
    workspaceUrlTemplate: `${fake.url}/ws/{deployment_name}`,
    credentials: async () => ({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }),
    random: () => 0.5,
    ...options,
  });
}

/** Installs a fake clock for each test and puts the previous one back afterwards. */
export function useFakeClock(): () => ReturnType<typeof fakeClock> {
  let current = fakeClock();
  let previous: Clock | undefined;
  beforeEach(() => {
    current = fakeClock();
    previous = setClock(current);
  });
  afterEach(() => {
    if (previous) setClock(previous);
  });
  return () => current;
}

/** Runs `fn` and returns what it threw (fails the test if it did not throw). */
export async function thrown(fn: () => Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await fn();
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to throw');
}
