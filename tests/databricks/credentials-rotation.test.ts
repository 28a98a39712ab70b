import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { TokenCache } from '../../lib/databricks/auth.ts';
import { DatabricksAuthError } from '../../lib/databricks/client.ts';
import {
  CREDENTIALS_TTL_MS,
  clearCredentialsCache,
  forgetCredentials,
  InvalidCredentialsSecret,
  loadCredentials,
} from '../../lib/databricks/credentials.ts';
import { clearDatabricksClients, databricksFor } from '../../lib/databricks/index.ts';
import { asInvocation } from '../../lib/invocation.ts';
import { loadSettings } from '../../lib/settings.ts';
import { type FakeServer, type Reply, type Seen, startFake } from './fake-server.ts';
import { ACCOUNT_ID, clientFor, thrown, useFakeClock } from './setup.ts';

/**
 * The client secret is cached for a few minutes only, and dropped (with the token) when Databricks answers
 * an auth failure, so a secret rotated in Secrets Manager is used without a redeploy (DESIGN §6.7: and it
 * never appears in an error).
 */

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:databricks/cmk-rotator-AbCdEf';
const CLIENT_ID = 'sp-rotating-client';
const OLD_SECRET = 'old-secret-value-do-not-leak-1';
const NEW_SECRET = 'new-secret-value-do-not-leak-2';
const WORKSPACE = { workspace_id: 1, deployment_name: 'acme-prod', workspace_status: 'RUNNING' };

const basicOf = (secret: string) => Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64');
const secretOf = (req: Seen) =>
  Buffer.from(String(req.headers.authorization).replace(/^Basic /, ''), 'base64')
    .toString('utf8')
    .split(':')[1];

/** Every way an error could leak: message, stack, JSON, details, its own fields. */
function everythingIn(error: Error & Record<string, unknown>): string {
  return [
    error.message,
    error.stack ?? '',
    JSON.stringify(error),
    JSON.stringify(error.details),
    JSON.stringify({ ...error }),
    String(error.cause ?? ''),
  ].join('\n');
}

/** Secrets Manager holding `current.secret`, counting reads. */
function secretsManager() {
  const sm = mockClient(SecretsManagerClient);
  const state = { secret: OLD_SECRET, reads: 0 };
  sm.on(GetSecretValueCommand).callsFake(() => {
    state.reads += 1;
    return { SecretString: JSON.stringify({ client_id: CLIENT_ID, client_secret: state.secret }) };
  });
  return { sm, state, client: new SecretsManagerClient({ region: 'us-east-1' }) };
}

/**
 * A Databricks stand-in whose token endpoints accept only `accepted.secret` (401 invalid_client otherwise,
 * echoing the refused secret to check redaction); the API answers the workspace.
 */
function databricks(accepted: { secret: string }, api?: (req: Seen) => Reply | undefined) {
  let issued = 0;
  return startFake((req) => {
    if (req.path.endsWith('/v1/token')) {
      const secret = secretOf(req);
      if (secret !== accepted.secret) {
        return {
          status: 401,
          body: { error: 'invalid_client', error_description: `Client authentication failed for ${secret}` },
        };
      }
      issued += 1;
      return { status: 200, body: { access_token: `tok-${issued}`, expires_in: 3600 } };
    }
    return api?.(req) ?? { status: 200, body: WORKSPACE };
  });
}

describe('loadCredentials: a cache that expires', () => {
  const clock = useFakeClock();
  let mocked: ReturnType<typeof secretsManager>;
  beforeEach(() => {
    clearCredentialsCache();
    mocked = secretsManager();
  });
  afterEach(() => mocked.sm.restore());

  it('reads the secret once within the time to live, and again after it', async () => {
    // Prepare
    await loadCredentials(mocked.client, SECRET_ARN);
    mocked.state.secret = NEW_SECRET;
    // Act
    clock().advance(CREDENTIALS_TTL_MS - 1);
    const cached = await loadCredentials(mocked.client, SECRET_ARN);
    clock().advance(1);
    const fresh = await loadCredentials(mocked.client, SECRET_ARN);
    // Assess
    expect(CREDENTIALS_TTL_MS).toBe(5 * 60_000);
    expect(cached.clientSecret).toBe(OLD_SECRET);
    expect(fresh).toEqual({ clientId: CLIENT_ID, clientSecret: NEW_SECRET });
    expect(mocked.state.reads).toBe(2);
  });

  it('shares one read between concurrent callers', async () => {
    // Act
    const all = await Promise.all(
      Array.from({ length: 10 }, () => loadCredentials(mocked.client, SECRET_ARN)),
    );
    // Assess
    expect(new Set(all.map((c) => c.clientSecret))).toEqual(new Set([OLD_SECRET]));
    expect(mocked.state.reads).toBe(1);
  });

  it('keeps a read per container: another container of the function reads the secret itself', async () => {
    // Prepare
    const inContainer = (logStreamName: string) =>
      asInvocation({ functionName: 'stop-compute', logStreamName }, () =>
        loadCredentials(mocked.client, SECRET_ARN),
      );
    await inContainer('a');
    // Act
    await inContainer('a');
    await inContainer('b');
    const forgotten = asInvocation({ functionName: 'stop-compute', logStreamName: 'b' }, () =>
      forgetCredentials(SECRET_ARN),
    );
    await inContainer('a');
    // Assess: container a read once (its entry survived b's forgetting), b once
    expect(forgotten).toBe(false);
    expect(mocked.state.reads).toBe(2);
  });

  it('reads again when the clock went back (another run’s clock)', async () => {
    // Prepare
    await loadCredentials(mocked.client, SECRET_ARN);
    // Act
    clock().advance(-1000);
    await loadCredentials(mocked.client, SECRET_ARN);
    // Assess
    expect(mocked.state.reads).toBe(2);
  });

  it('does not keep a failed read', async () => {
    // Prepare
    mocked.sm
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }))
      .resolves({ SecretString: JSON.stringify({ client_id: CLIENT_ID, client_secret: NEW_SECRET }) });
    // Act
    const error = await loadCredentials(mocked.client, SECRET_ARN).catch((e: unknown) => e);
    const next = await loadCredentials(mocked.client, SECRET_ARN);
    // Assess
    expect(error).toBeInstanceOf(InvalidCredentialsSecret);
    expect(next.clientSecret).toBe(NEW_SECRET);
  });

  it('forgets on demand, saying whether what it dropped had been served from the cache', async () => {
    // Prepare
    await loadCredentials(mocked.client, SECRET_ARN);
    // Act
    const freshDropped = forgetCredentials(SECRET_ARN);
    await loadCredentials(mocked.client, SECRET_ARN);
    await loadCredentials(mocked.client, SECRET_ARN);
    const cachedDropped = forgetCredentials(SECRET_ARN);
    const nothing = forgetCredentials(SECRET_ARN);
    await loadCredentials(mocked.client, SECRET_ARN);
    // Assess
    expect([freshDropped, cachedDropped, nothing]).toEqual([false, true, false]);
    expect(mocked.state.reads).toBe(3);
  });

  it('never puts the secret in an error about its shape', async () => {
    // Prepare
    mocked.sm
      .on(GetSecretValueCommand)
      .resolves({ SecretString: JSON.stringify({ client_secret: NEW_SECRET, client_id: '' }) });
    // Act
    const error = (await loadCredentials(mocked.client, SECRET_ARN).catch((e: unknown) => e)) as Error &
      Record<string, unknown>;
    // Assess
    expect(error).toBeInstanceOf(InvalidCredentialsSecret);
    expect(error.message).toContain('"client_id"');
    expect(everythingIn(error)).not.toContain(NEW_SECRET);
  });
});

describe('TokenCache: auth failures', () => {
  useFakeClock();

  it('drops the secret when a 401 rejects the cached token, but not for a token already replaced', async () => {
    // Prepare
    let issued = 0;
    let dropped = 0;
    const tokens = new TokenCache(
      async () => {
        issued += 1;
        return { accessToken: `t-${issued}`, expiresInSeconds: 3600 };
      },
      {
        onAuthFailure: () => {
          dropped += 1;
          return true;
        },
      },
    );
    const first = await tokens.get();
    // Act
    tokens.invalidate(first);
    const second = await tokens.get();
    tokens.invalidate(first);
    // Assess
    expect([first, second]).toEqual(['t-1', 't-2']);
    expect(dropped).toBe(1);
    expect(await tokens.get()).toBe('t-2');
  });
});

describe('DatabricksClient + Secrets Manager: a rotated client secret', () => {
  const clock = useFakeClock();
  let fake: FakeServer;
  let mocked: ReturnType<typeof secretsManager>;
  beforeEach(() => {
    clearCredentialsCache();
    clearDatabricksClients();
    mocked = secretsManager();
  });
  afterEach(async () => {
    mocked.sm.restore();
    clearDatabricksClients();
    await fake.close();
  });

  const client = (options: Parameters<typeof clientFor>[1] = {}) =>
    clientFor(fake, {
      credentials: () => loadCredentials(mocked.client, SECRET_ARN),
      onAuthFailure: () => forgetCredentials(SECRET_ARN),
      ...options,
    });

  it('is used for the next token once the cached secret has expired', async () => {
    // Prepare: the old secret stays valid in Databricks for a while (both are accepted)
    const accepted = { secret: OLD_SECRET };
    fake = await databricks(accepted);
    const c = client();
    await c.account.getWorkspace(1);
    mocked.state.secret = NEW_SECRET;
    // Act: the account token is due after 55 minutes
    clock().advance(56 * 60_000);
    accepted.secret = NEW_SECRET;
    await c.account.getWorkspace(1);
    // Assess
    expect(fake.tokenRequests().map(secretOf)).toEqual([OLD_SECRET, NEW_SECRET]);
    expect(mocked.state.reads).toBe(2);
  });

  it('is read at once when the token endpoint refuses the cached one, and the call succeeds', async () => {
    // Prepare
    const accepted = { secret: OLD_SECRET };
    fake = await databricks(accepted, (req) =>
      req.path.endsWith('/clusters/get')
        ? { status: 200, body: { cluster_id: 'c', state: 'RUNNING' } }
        : undefined,
    );
    const c = client();
    await c.account.getWorkspace(1);
    // Act: rotated in Secrets Manager and in Databricks (the old one revoked) within the cache's lifetime
    mocked.state.secret = NEW_SECRET;
    accepted.secret = NEW_SECRET;
    const cluster = await c.workspace('acme-prod').getCluster('c');
    // Assess
    expect(cluster.cluster_id).toBe('c');
    expect(fake.tokenRequests().map(secretOf)).toEqual([OLD_SECRET, OLD_SECRET, NEW_SECRET]);
    expect(mocked.state.reads).toBe(2);
  });

  it('is read again on the next call after a refusal of a freshly read secret (no immediate retry)', async () => {
    // Prepare: Secrets Manager still holds the old secret Databricks no longer accepts
    const accepted = { secret: NEW_SECRET };
    fake = await databricks(accepted);
    const c = client();
    // Act
    const error = await thrown(() => c.account.getWorkspace(1));
    const refusedTokens = fake.tokenRequests().length;
    mocked.state.secret = NEW_SECRET;
    const workspace = await c.account.getWorkspace(1);
    // Assess
    expect(error).toBeInstanceOf(DatabricksAuthError);
    expect(error.errorCode).toBe('invalid_client');
    expect(refusedTokens).toBe(1);
    expect(workspace.workspace_id).toBe(1);
    expect(fake.tokenRequests().map(secretOf)).toEqual([OLD_SECRET, NEW_SECRET]);
    expect(mocked.state.reads).toBe(2);
  });

  it('treats a 400 invalid_client from the token endpoint as a refusal too', async () => {
    // Prepare
    let refused = false;
    fake = await startFake((req) => {
      if (req.path.endsWith('/v1/token') && !refused) {
        refused = true;
        return { status: 400, body: { error: 'invalid_client', error_description: 'bad client' } };
      }
      return req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined;
    });
    const c = client();
    // Act
    await thrown(() => c.account.getWorkspace(1));
    await c.account.getWorkspace(1);
    // Assess
    expect(mocked.state.reads).toBe(2);
  });

  it('is read again after the API answers 401 to the token', async () => {
    // Prepare
    let rejectNext = false;
    fake = await databricks({ secret: OLD_SECRET }, (req) => {
      if (!req.path.endsWith('/workspaces/1')) return undefined;
      if (rejectNext) {
        rejectNext = false;
        return { status: 401, body: { error_code: 'UNAUTHENTICATED', message: 'token revoked' } };
      }
      return { status: 200, body: WORKSPACE };
    });
    const c = client();
    await c.account.getWorkspace(1);
    // Act
    rejectNext = true;
    await c.account.getWorkspace(1);
    // Assess
    expect(fake.apiRequests().map((r) => r.headers.authorization)).toEqual([
      'Bearer tok-1',
      'Bearer tok-1',
      'Bearer tok-2',
    ]);
    expect(mocked.state.reads).toBe(2);
  });

  it('never puts the old or the new secret in the error when both are refused', async () => {
    // Prepare
    fake = await databricks({ secret: 'neither' });
    const c = client();
    // Act: a fresh old secret is refused; then a cached new one is refused, re-read and refused again
    const first = await thrown(() => c.account.getWorkspace(1));
    mocked.state.secret = NEW_SECRET;
    await loadCredentials(mocked.client, SECRET_ARN);
    const second = await thrown(() => c.workspace('acme-prod').getCluster('c'));
    // Assess
    expect(fake.tokenRequests().map(secretOf)).toEqual([OLD_SECRET, NEW_SECRET, NEW_SECRET]);
    for (const error of [first, second]) {
      expect(error.name).toBe('DatabricksAuthError');
      const text = everythingIn(error);
      for (const secret of [OLD_SECRET, NEW_SECRET, basicOf(OLD_SECRET), basicOf(NEW_SECRET)]) {
        expect(text).not.toContain(secret);
      }
    }
  });
});

describe('databricksFor: the deployed wiring', () => {
  const clock = useFakeClock();
  let fake: FakeServer;
  let mocked: ReturnType<typeof secretsManager>;
  beforeEach(() => {
    clearCredentialsCache();
    clearDatabricksClients();
    mocked = secretsManager();
    setAwsClients({ secretsManager: mocked.client });
  });
  afterEach(async () => {
    mocked.sm.restore();
    clearDatabricksClients();
    await fake.close();
  });

  it('picks up a secret rotated in Secrets Manager after Databricks refuses the cached one', async () => {
    // Prepare
    const accepted = { secret: OLD_SECRET };
    fake = await databricks(accepted, (req) =>
      req.path.endsWith('/clusters/get')
        ? { status: 200, body: { cluster_id: 'c', state: 'RUNNING' } }
        : undefined,
    );
    const settings = loadSettings({
      DATABRICKS_ACCOUNT_ID: ACCOUNT_ID,
      DATABRICKS_ACCOUNTS_HOST: fake.url,
      DATABRICKS_WORKSPACE_URL_TEMPLATE: `${fake.url}/ws/{deployment_name}`,
      DATABRICKS_CREDENTIALS_SECRET_ARN: SECRET_ARN,
    });
    await databricksFor(settings).account.getWorkspace(1);
    // Act: rotated a minute later, while the old secret is still cached
    clock().advance(60_000);
    mocked.state.secret = NEW_SECRET;
    accepted.secret = NEW_SECRET;
    const cluster = await databricksFor(settings).workspace('acme-prod').getCluster('c');
    // Assess
    expect(cluster.cluster_id).toBe('c');
    expect(fake.tokenRequests().map(secretOf)).toEqual([OLD_SECRET, OLD_SECRET, NEW_SECRET]);
    expect(mocked.state.reads).toBe(2);
  });
});
