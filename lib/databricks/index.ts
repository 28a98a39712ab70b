import { secretsManagerClient } from '../aws/secrets-manager.ts';
import { currentContainer } from '../invocation.ts';
import type { Settings } from '../settings.ts';
import type { Databricks } from './api.ts';
import { DatabricksClient } from './client.ts';
import { forgetCredentials, loadCredentials } from './credentials.ts';
import { DEFAULT_PACING } from './http.ts';

export type { AccountApi, Databricks, WorkspaceApi } from './api.ts';
export { DatabricksApiError } from './client.ts';

const clients = new Map<string, Databricks>();
let transport: typeof fetch | undefined;

/**
 * The Databricks client for these settings, created once per container (its OAuth tokens are cached
 * inside it, one per host, and so is each host's adaptive request window). Credentials are read from Secrets Manager on first use, again after
 * `CREDENTIALS_TTL_MS`, and again after Databricks refuses them or a token (see `forgetCredentials`).
 * The invocation's time budget is not part of the cached client: each call reads the current
 * invocation's (lib/deadline.ts).
 */
export function databricksFor(settings: Settings): Databricks {
  const key = [
    // One set of clients per container (lib/invocation.ts): in AWS that is all of them.
    currentContainer(),
    settings.databricksAccountId,
    settings.accountsHost,
    settings.workspaceUrlTemplate,
    settings.apiConcurrency,
  ].join('|');
  let client = clients.get(key);
  if (!client) {
    client = new DatabricksClient({
      accountId: settings.databricksAccountId,
      accountsHost: settings.accountsHost,
      workspaceUrlTemplate: settings.workspaceUrlTemplate,
      credentials: () => loadCredentials(secretsManagerClient(), settings.credentialsSecretArn),
      // A refused token or client secret drops the cached secret: a rotated one is read on the next try.
      onAuthFailure: () => forgetCredentials(settings.credentialsSecretArn),
      // Per host: at most API_CONCURRENCY requests in flight (fewer while Databricks throttles), paced
      // within the limits Databricks documents.
      maxConcurrency: settings.apiConcurrency,
      ...DEFAULT_PACING,
      ...(transport ? { fetch: transport } : {}),
    });
    clients.set(key, client);
  }
  return client;
}

/**
 * Replace the HTTP transport of the clients created from now on (the local runner sends calls to the
 * emulator in process); `undefined` restores the global `fetch`. Clears the cached clients.
 */
export function setDatabricksFetch(next: typeof fetch | undefined): void {
  transport = next;
  clients.clear();
}

/** Forget cached clients (tests, local runner between scenarios). */
export function clearDatabricksClients(): void {
  clients.clear();
}
