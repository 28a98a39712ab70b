import { WorkspaceClient } from '@databricks/sdk-experimental';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_CONFIGS, workspaceWithEverything } from './fixtures.ts';
import { DEPLOYMENT, scenarioWith, sdkAgainstEmulator } from './harness.ts';

/**
 * Throttling as a real client meets it. The JS SDK retries a 429 after 1 s + jitter, then 2 s + jitter, and
 * does not read Retry-After (dist/api-client.js, dist/retries/retries.js): against a Retry-After of 3 s its
 * first retry comes too early and is throttled again; its second one, past the 3 s, goes through.
 */
let env: Awaited<ReturnType<typeof sdkAgainstEmulator>> | undefined;

afterEach(async () => {
  await env?.emu.close();
  env = undefined;
});

describe('Retry-After through the SDK', () => {
  it('throttles a retry sent before Retry-After again, and serves the one sent after it', async () => {
    env = await sdkAgainstEmulator(
      scenarioWith({
        keyConfigs: KEY_CONFIGS,
        workspaces: [workspaceWithEverything()],
        faults: [
          { method: 'GET', path: '/api/2.1/clusters/get', status: 429, retryAfterSeconds: 3, times: 1 },
        ],
      }),
    );

    const cluster = await env.workspace().clusters.get({ cluster_id: '0101-000000-ui0001' });
    const gets = env.emu.callLog().filter((e) => e.path.startsWith('/api/2.1/clusters/get'));

    const first = gets[0]?.t ?? 0;

    expect(cluster.cluster_id).toBe('0101-000000-ui0001');
    // The fault's 429, at least one early retry throttled again, and the one after the 3 s served.
    expect(gets.length).toBeGreaterThanOrEqual(3);
    expect(gets.slice(0, -1).every((e) => e.status === 429 && e.t - first < 3)).toBe(true);
    expect(gets.at(-1)).toMatchObject({ status: 200 });
    expect((gets.at(-1)?.t ?? 0) - first).toBeGreaterThanOrEqual(3);
  });

  it('throttles the token endpoint in the OAuth error shape the SDK reports', async () => {
    const scenario = scenarioWith({
      keyConfigs: KEY_CONFIGS,
      workspaces: [workspaceWithEverything()],
      rateLimits: { token: 1 },
    });
    env = await sdkAgainstEmulator(scenario);
    const { clientId, clientSecret } = scenario.databricks.servicePrincipal;
    const host = env.emu.workspaceHosts[DEPLOYMENT] ?? '';
    // Three clients, three token requests within milliseconds: at least two in one second, over the limit of 1.
    const clients = [0, 1, 2].map(
      () => new WorkspaceClient({ host, clientId, clientSecret, authType: 'oauth-m2m', loaders: [] }),
    );

    const results = await Promise.allSettled(
      clients.map((c) => c.clusters.get({ cluster_id: '0101-000000-ui0001' })),
    );
    const tokens = env.emu.callLog().filter((e) => e.path === '/oidc/v1/token');
    const refused = results.find((r) => r.status === 'rejected');

    expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
    // The JS SDK does not retry a token request: it reports the OAuth error as Databricks words it.
    expect(String(refused?.reason)).toContain('invalid_request Temporarily throttled, too many requests');
    expect(tokens.filter((e) => e.status === 429).length).toBe(
      results.filter((r) => r.status === 'rejected').length,
    );
  });
});
