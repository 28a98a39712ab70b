import { afterEach, describe, expect, it } from 'vitest';
import { DatabricksAuthError } from '../../lib/databricks/client.ts';
import { type FakeServer, startFake } from './fake-server.ts';
import { ACCOUNT_ID, CLIENT_ID, CLIENT_SECRET, clientFor, thrown, useFakeClock } from './setup.ts';

const WORKSPACE = { workspace_id: 1, deployment_name: 'acme-prod', workspace_status: 'RUNNING' };

describe('DatabricksClient: OAuth M2M', () => {
  const clock = useFakeClock();
  let fake: FakeServer;
  afterEach(() => fake.close());

  it('gets the account token with the client-credentials grant and HTTP Basic auth', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined,
    );
    const client = clientFor(fake);

    // Act
    await client.account.getWorkspace(1);

    // Assess
    const [token] = fake.tokenRequests();
    expect(token?.method).toBe('POST');
    expect(token?.path).toBe(`/oidc/accounts/${ACCOUNT_ID}/v1/token`);
    expect(token?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(new URLSearchParams(token?.body).get('grant_type')).toBe('client_credentials');
    expect(new URLSearchParams(token?.body).get('scope')).toBe('all-apis');
    const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
    expect(token?.headers.authorization).toBe(`Basic ${basic}`);
    expect(fake.apiRequests()[0]?.headers.authorization).toBe('Bearer tok-1');
  });

  it('gets a workspace token from the workspace host, separate from the account token', async () => {
    // Prepare
    fake = await startFake((req) => {
      if (req.path.endsWith('/workspaces/1')) return { status: 200, body: WORKSPACE };
      if (req.path === '/ws/acme-prod/api/2.1/clusters/get')
        return { status: 200, body: { cluster_id: 'c', state: 'RUNNING' } };
      return undefined;
    });
    const client = clientFor(fake);

    // Act
    await client.account.getWorkspace(1);
    await client.workspace('acme-prod').getCluster('c');

    // Assess
    expect(fake.tokenRequests().map((r) => r.path)).toEqual([
      `/oidc/accounts/${ACCOUNT_ID}/v1/token`,
      '/ws/acme-prod/oidc/v1/token',
    ]);
    expect(fake.apiRequests()[1]?.headers.authorization).toBe('Bearer tok-2');
  });

  it('reuses one token for many calls to the same host', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined,
    );
    const client = clientFor(fake);

    // Act
    for (let i = 0; i < 5; i++) await client.account.getWorkspace(1);

    // Assess
    expect(fake.tokenRequests()).toHaveLength(1);
    expect(fake.apiRequests()).toHaveLength(5);
  });

  it('lets concurrent callers share one token request', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined,
    );
    const client = clientFor(fake);

    // Act
    await Promise.all(Array.from({ length: 20 }, () => client.account.getWorkspace(1)));

    // Assess
    expect(fake.tokenRequests()).toHaveLength(1);
    expect(new Set(fake.apiRequests().map((r) => r.headers.authorization))).toEqual(
      new Set(['Bearer tok-1']),
    );
  });

  it('refreshes the token five minutes before it expires, not earlier', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined,
    );
    const client = clientFor(fake);
    await client.account.getWorkspace(1);

    // Act
    clock().advance((3600 - 300) * 1000 - 1);
    await client.account.getWorkspace(1);
    const beforeMargin = fake.tokenRequests().length;
    clock().advance(2);
    await client.account.getWorkspace(1);

    // Assess
    expect(beforeMargin).toBe(1);
    expect(fake.tokenRequests()).toHaveLength(2);
    expect(fake.apiRequests()[2]?.headers.authorization).toBe('Bearer tok-2');
  });

  it('refreshes a short-lived token at 90% of its lifetime', async () => {
    // Prepare
    let issued = 0;
    fake = await startFake((req) => {
      if (req.path.endsWith('/v1/token')) {
        issued += 1;
        return { status: 200, body: { access_token: `short-${issued}`, expires_in: 600 } };
      }
      return { status: 200, body: WORKSPACE };
    });
    const client = clientFor(fake);
    await client.account.getWorkspace(1);

    // Act
    clock().advance(539_000);
    await client.account.getWorkspace(1);
    clock().advance(2_000);
    await client.account.getWorkspace(1);

    // Assess
    expect(fake.apiRequests().map((r) => r.headers.authorization)).toEqual([
      'Bearer short-1',
      'Bearer short-1',
      'Bearer short-2',
    ]);
  });

  it('fetches a new token and retries once when the API answers 401', async () => {
    // Prepare
    let rejected = false;
    fake = await startFake((req) => {
      if (req.path.endsWith('/workspaces/1')) {
        if (!rejected) {
          rejected = true;
          return { status: 401, body: { error_code: 'UNAUTHENTICATED', message: 'token expired' } };
        }
        return { status: 200, body: WORKSPACE };
      }
      return undefined;
    });
    const client = clientFor(fake);

    // Act
    const workspace = await client.account.getWorkspace(1);

    // Assess
    expect(workspace.deployment_name).toBe('acme-prod');
    expect(fake.tokenRequests()).toHaveLength(2);
    expect(fake.apiRequests().map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('gives up with a 401 error after one token refresh', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/workspaces/1')
        ? { status: 401, body: { error_code: 'UNAUTHENTICATED', message: 'not assigned' } }
        : undefined,
    );
    const client = clientFor(fake);

    // Act
    const error = await thrown(() => client.account.getWorkspace(1));

    // Assess
    expect(error.name).toBe('DatabricksApiError');
    expect(error.status).toBe(401);
    expect(error.errorCode).toBe('UNAUTHENTICATED');
    expect(fake.apiRequests()).toHaveLength(2);
    expect(fake.tokenRequests()).toHaveLength(2);
  });

  it('raises DatabricksAuthError pointing at the Secrets Manager secret when the token endpoint refuses', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path.endsWith('/v1/token')
        ? {
            status: 401,
            body: { error: 'invalid_client', error_description: 'Client authentication failed' },
          }
        : { status: 200, body: WORKSPACE },
    );
    const client = clientFor(fake);

    // Act
    const error = await thrown(() => client.account.getWorkspace(1));

    // Assess
    expect(error).toBeInstanceOf(DatabricksAuthError);
    expect(error.name).toBe('DatabricksAuthError');
    expect(error.errorCode).toBe('invalid_client');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('Secrets Manager');
    expect(error.message).toContain(
      `POST /oidc/accounts/${ACCOUNT_ID}/v1/token (account API) failed: 401 invalid_client`,
    );
    expect(fake.apiRequests()).toHaveLength(0);
  });

  it('retries a throttled token request and then succeeds', async () => {
    // Prepare
    let refused = 0;
    fake = await startFake((req) => {
      if (req.path.endsWith('/v1/token') && refused < 2) {
        refused += 1;
        return {
          status: 400,
          body: { error: 'invalid_request', error_description: 'Temporarily throttled, too many requests' },
        };
      }
      return req.path.endsWith('/workspaces/1') ? { status: 200, body: WORKSPACE } : undefined;
    });
    const client = clientFor(fake);

    // Act
    await client.account.getWorkspace(1);

    // Assess
    expect(fake.tokenRequests()).toHaveLength(3);
    expect(clock().sleeps).toEqual([500, 1000]);
  });
});
