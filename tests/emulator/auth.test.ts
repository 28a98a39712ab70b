import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT, emulatorFor, scenarioWith, workspace } from './helpers.ts';

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

const form = 'grant_type=client_credentials&scope=all-apis';
const formHeaders = { 'Content-Type': 'application/x-www-form-urlencoded' };

describe('OAuth M2M', () => {
  it('issues an account token for the service principal with HTTP Basic client auth', async () => {
    // Prepare
    const scenario = scenarioWith({ workspaces: [workspace()] });
    env = await emulatorFor(scenario);
    // Act
    const answer = await env.raw(
      'POST',
      `${env.emu.url}/oidc/accounts/${scenario.databricks.accountId}/v1/token`,
      {
        body: form,
        headers: { ...formHeaders, Authorization: env.basic },
      },
    );
    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'all-apis' });
    expect(typeof answer.body.access_token).toBe('string');
  });

  it('accepts client_id and client_secret in the form body', async () => {
    const scenario = scenarioWith({ workspaces: [workspace()] });
    env = await emulatorFor(scenario);
    const sp = scenario.databricks.servicePrincipal;
    const body = `${form}&client_id=${encodeURIComponent(sp.clientId)}&client_secret=${encodeURIComponent(sp.clientSecret)}`;

    const answer = await env.raw('POST', `${env.base(DEPLOYMENT)}/oidc/v1/token`, {
      body,
      headers: formHeaders,
    });

    expect(answer.status).toBe(200);
  });

  it('refuses a wrong client secret with 401 invalid_client', async () => {
    const scenario = scenarioWith({ workspaces: [workspace()] });
    env = await emulatorFor(scenario);
    const wrong = `Basic ${Buffer.from(`${scenario.databricks.servicePrincipal.clientId}:nope`).toString('base64')}`;

    const answer = await env.raw('POST', `${env.base(DEPLOYMENT)}/oidc/v1/token`, {
      body: form,
      headers: { ...formHeaders, Authorization: wrong },
    });

    expect(answer.status).toBe(401);
    expect(answer.body.error).toBe('invalid_client');
  });

  it('answers 401 UNAUTHENTICATED without a bearer token', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()] }));

    const answer = await env.raw('GET', `${env.base(DEPLOYMENT)}/api/2.1/clusters/list`);

    expect(answer.status).toBe(401);
    expect(answer.body.error_code).toBe('UNAUTHENTICATED');
  });

  it('refuses an account token on the workspace API and a workspace token on the account API', async () => {
    const scenario = scenarioWith({ workspaces: [workspace()] });
    env = await emulatorFor(scenario);
    const accountToken = await env.token();
    const workspaceToken = await env.token(DEPLOYMENT);

    const onWorkspace = await env.raw('GET', `${env.base(DEPLOYMENT)}/api/2.1/clusters/list`, {
      headers: { Authorization: `Bearer ${accountToken}` },
    });
    const onAccount = await env.raw(
      'GET',
      `${env.emu.url}/api/2.0/accounts/${scenario.databricks.accountId}/workspaces`,
      {
        headers: { Authorization: `Bearer ${workspaceToken}` },
      },
    );

    expect(onWorkspace.status).toBe(401);
    expect(onAccount.status).toBe(401);
  });

  it('expires tokens after 3600 simulated seconds', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()] }));
    const token = await env.token(DEPLOYMENT);
    const url = `${env.base(DEPLOYMENT)}/api/2.0/instance-pools/list`;
    const before = await env.raw('GET', url, { headers: { Authorization: `Bearer ${token}` } });

    env.emu.clock.advance(3601);
    const after = await env.raw('GET', url, { headers: { Authorization: `Bearer ${token}` } });

    expect(before.status).toBe(200);
    expect(after.status).toBe(401);
  });

  it('serves OIDC discovery with the prefixed absolute token endpoint', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()] }));

    const answer = await env.raw(
      'GET',
      `${env.base(DEPLOYMENT)}/oidc/.well-known/oauth-authorization-server`,
    );

    expect(answer.status).toBe(200);
    expect(answer.body.token_endpoint).toBe(`${env.emu.url}/ws/${DEPLOYMENT}/oidc/v1/token`);
    expect(answer.body.issuer).toBe(`${env.emu.url}/ws/${DEPLOYMENT}/oidc`);
    expect(String(answer.body.authorization_endpoint)).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/ws\/acme-prod\/oidc\//,
    );
  });

  it('routes the workspace API by Host header as well as by path prefix', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })] }));
    const token = await env.token(DEPLOYMENT);
    const port = new URL(env.emu.url).port;

    const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: Number(port),
          path: '/api/2.1/clusters/get?cluster_id=c-1',
          // fetch() may not set Host (a forbidden header), so this goes through node:http.
          headers: { Authorization: `Bearer ${token}`, Host: `${DEPLOYMENT}.cloud.databricks.com:${port}` },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end();
    });

    expect(answer.status).toBe(200);
    expect(answer.body.cluster_id).toBe('c-1');
  });

  it('logs token requests without secrets or tokens', async () => {
    const scenario = scenarioWith({ workspaces: [workspace()] });
    env = await emulatorFor(scenario);
    const token = await env.token(DEPLOYMENT);
    await env.ws('GET', '/api/2.1/clusters/list');

    const log = JSON.stringify(env.emu.callLog());

    expect(env.emu.callLog()[0]).toMatchObject({
      method: 'POST',
      path: '/oidc/v1/token',
      status: 200,
      host: DEPLOYMENT,
      body: { grant_type: 'client_credentials', scope: 'all-apis' },
    });
    expect(log).not.toContain(scenario.databricks.servicePrincipal.clientSecret);
    expect(log).not.toContain(token);
  });
});

describe('routing', () => {
  it('answers 404 ENDPOINT_NOT_FOUND for an unknown route and 405 for a wrong method', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()] }));

    const unknown = await env.ws('GET', '/api/2.1/clusters/teleport');
    const wrongMethod = await env.ws('GET', '/api/2.1/clusters/delete');

    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe('ENDPOINT_NOT_FOUND');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('answers 400 MALFORMED_REQUEST for a body that is not JSON', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()] }));
    const token = await env.token(DEPLOYMENT);

    const answer = await env.raw('POST', `${env.base(DEPLOYMENT)}/api/2.1/clusters/delete`, {
      body: '{not json',
      headers: { Authorization: `Bearer ${token}` },
    });

    expect(answer.status).toBe(400);
    expect(answer.body.error_code).toBe('MALFORMED_REQUEST');
  });
});
