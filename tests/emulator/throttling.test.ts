import { afterEach, describe, expect, it } from 'vitest';
import { DEPLOYMENT, emulatorFor, scenarioWith, WS_ID, workspace } from './helpers.ts';

type Emu = Awaited<ReturnType<typeof emulatorFor>>;
/** A time scale at which the test's real milliseconds are no simulated time: only `advance()` moves it. */
const FROZEN = 1e-6;
let env: Emu | undefined;
afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

describe('throttling and faults', () => {
  it('answers 429 REQUEST_LIMIT_EXCEEDED with Retry-After beyond the workspace rate limit', async () => {
    // Prepare: one simulated second lasts ~1 s of real time at timeScale 1.
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()], rateLimits: { workspace: 3 } }), 1);
    await env.token(DEPLOYMENT);
    // Act
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => env!.ws('GET', '/api/2.0/instance-pools/list')),
    );
    // Assess
    const throttled = answers.filter((a) => a.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled[0]?.body.error_code).toBe('REQUEST_LIMIT_EXCEEDED');
    expect(Number(throttled[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(env.emu.callLog().filter((e) => e.status === 429).length).toBe(throttled.length);
  });

  it('limits the account API separately from the workspaces', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()], rateLimits: { account: 1 } }), 1);
    await env.token();
    await env.token(DEPLOYMENT);

    const account = await Promise.all(Array.from({ length: 3 }, () => env!.account('GET', '/workspaces')));
    const workspaceApi = await Promise.all(
      Array.from({ length: 3 }, () => env!.ws('GET', '/api/2.0/instance-pools/list')),
    );

    expect(account.some((a) => a.status === 429)).toBe(true);
    expect(workspaceApi.every((a) => a.status === 200)).toBe(true);
  });

  it('answers an injected fault for its number of times with Retry-After, then serves the call', async () => {
    env = await emulatorFor(
      scenarioWith({
        workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })],
        faults: [
          { method: 'POST', path: '/api/2.1/clusters/delete', status: 429, retryAfterSeconds: 2, times: 2 },
        ],
      }),
    );

    const first = await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    env.emu.clock.advance(2);
    const second = await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    const between = await env.ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    env.emu.clock.advance(2);
    const third = await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });

    expect([first.status, second.status, third.status]).toEqual([429, 429, 200]);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(first.body.error_code).toBe('REQUEST_LIMIT_EXCEEDED');
    expect(between.body.state).toBe('RUNNING');
  });

  it('throttles a retry sent before Retry-After again, without serving it or spending the fault', async () => {
    env = await emulatorFor(
      scenarioWith({
        workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })],
        faults: [
          { method: 'POST', path: '/api/2.1/clusters/delete', status: 429, retryAfterSeconds: 5, times: 1 },
        ],
      }),
      FROZEN,
    );

    await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    env.emu.clock.advance(3);
    const early = await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    const otherCall = await env.ws('GET', '/api/2.1/clusters/get?cluster_id=c-1');
    env.emu.clock.advance(2);
    const onTime = await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });

    expect(early.status).toBe(429);
    expect(early.headers.get('retry-after')).toBe('2');
    expect(early.body.error_code).toBe('REQUEST_LIMIT_EXCEEDED');
    // The window covers what the fault throttled, not the caller's other calls.
    expect(otherCall.body.state).toBe('RUNNING');
    expect(onTime.status).toBe(200);
  });

  it('keeps a caller throttled by the rate limit for the Retry-After second, on that host only', async () => {
    env = await emulatorFor(
      scenarioWith({ workspaces: [workspace()], rateLimits: { workspace: 1 } }),
      FROZEN,
    );
    await env.token(DEPLOYMENT);
    await env.token();
    env.emu.clock.advance(0.9);

    const [first, second] = [
      await env.ws('GET', '/api/2.0/instance-pools/list'),
      await env.ws('GET', '/api/2.0/instance-pools/list'),
    ];
    // Simulated second 1: the bucket has room again, but the caller was told to wait until 1.9.
    env.emu.clock.advance(0.3);
    const tooEarly = await env.ws('GET', '/api/2.0/instance-pools/list');
    const accountApi = await env.account('GET', '/workspaces');
    env.emu.clock.advance(0.8);
    const after = await env.ws('GET', '/api/2.0/instance-pools/list');

    expect([first.status, second.status, tooEarly.status, after.status]).toEqual([200, 429, 429, 200]);
    expect(accountApi.status).toBe(200);
  });

  it('limits token requests per token endpoint with rateLimits.token, in the OAuth error shape', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace()], rateLimits: { token: 1 } }), FROZEN);
    const form = {
      body: 'grant_type=client_credentials&scope=all-apis',
      headers: { Authorization: env.basic, 'Content-Type': 'application/x-www-form-urlencoded' },
    };

    const first = await env.raw('POST', `${env.base(DEPLOYMENT)}/oidc/v1/token`, form);
    const second = await env.raw('POST', `${env.base(DEPLOYMENT)}/oidc/v1/token`, form);
    const apiMeanwhile = await env.raw('GET', `${env.base(DEPLOYMENT)}/api/2.1/clusters/list`, {
      headers: { Authorization: `Bearer ${String(first.body.access_token)}` },
    });

    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(second.body).toEqual({
      error: 'invalid_request',
      error_description: 'Temporarily throttled, too many requests',
    });
    expect(apiMeanwhile.status).toBe(200);
  });

  it('answers a fault on a token endpoint in the OAuth error shape', async () => {
    env = await emulatorFor(
      scenarioWith({
        workspaces: [workspace()],
        faults: [
          {
            path: '/oidc/v1/token',
            status: 400,
            error_code: 'invalid_request',
            message: 'Temporarily throttled, too many requests',
          },
        ],
      }),
    );

    const answer = await env.raw('POST', `${env.base(DEPLOYMENT)}/oidc/v1/token`, {
      body: 'grant_type=client_credentials&scope=all-apis',
      headers: { Authorization: env.basic, 'Content-Type': 'application/x-www-form-urlencoded' },
    });

    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: 'invalid_request',
      error_description: 'Temporarily throttled, too many requests',
    });
  });

  it('matches a fault path with * per segment, restricted to a workspace id, on the account API', async () => {
    env = await emulatorFor(
      scenarioWith({
        workspaces: [workspace(), { workspace_id: 42, deployment_name: 'other' }],
        faults: [
          {
            method: 'GET',
            path: '/api/2.0/accounts/*/workspaces/*',
            status: 503,
            workspace_id: WS_ID,
            times: 1,
          },
        ],
      }),
    );

    const other = await env.account('GET', '/workspaces/42');
    const mine = await env.account('GET', `/workspaces/${WS_ID}`);
    const again = await env.account('GET', `/workspaces/${WS_ID}`);

    expect(other.status).toBe(200);
    expect(mine.status).toBe(503);
    expect(mine.body).toEqual({ error_code: 'TEMPORARILY_UNAVAILABLE', message: expect.any(String) });
    expect(again.status).toBe(200);
  });

  it('records every request in the call log with simulated time, host and body', async () => {
    env = await emulatorFor(scenarioWith({ workspaces: [workspace({ clusters: [{ cluster_id: 'c-1' }] })] }));

    await env.ws('POST', '/api/2.1/clusters/delete', { cluster_id: 'c-1' });
    await env.raw('GET', `${env.base(DEPLOYMENT)}/api/2.1/clusters/list`);
    const log = env.emu.callLog();

    expect(log.map((e) => [e.method, e.path, e.status, e.host])).toEqual([
      ['POST', '/oidc/v1/token', 200, DEPLOYMENT],
      ['POST', '/api/2.1/clusters/delete', 200, DEPLOYMENT],
      ['GET', '/api/2.1/clusters/list', 401, DEPLOYMENT],
    ]);
    expect(log[1]?.body).toEqual({ cluster_id: 'c-1' });
    expect(log.every((e, i) => e.t >= (log[i - 1]?.t ?? 0))).toBe(true);
  });
});
