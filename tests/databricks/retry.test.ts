import { afterEach, describe, expect, it } from 'vitest';
import { DatabricksThrottled, DatabricksUnavailable } from '../../lib/databricks/client.ts';
import { type FakeServer, type Reply, type Seen, startFake } from './fake-server.ts';
import { clientFor, thrown, useFakeClock } from './setup.ts';

const CLUSTER = { cluster_id: 'c-1', state: 'RUNNING', cluster_source: 'UI' };
const WS = '/ws/acme-prod';

/** Answers `path` with `failures` (one per call, in order), then with `ok`; tokens as usual. */
function failingThen(path: string, failures: Reply[], ok: Reply = { status: 200, body: {} }) {
  let calls = 0;
  return (req: Seen): Reply | undefined => {
    if (req.path !== path) return undefined;
    calls += 1;
    return failures[calls - 1] ?? ok;
  };
}

const throttled = (headers?: Record<string, string>): Reply => ({
  status: 429,
  body: { error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'slow down' },
  ...(headers ? { headers } : {}),
});
const internal: Reply = { status: 500, body: { error_code: 'INTERNAL_ERROR', message: 'boom' } };

describe('DatabricksClient: retries', () => {
  const clock = useFakeClock();
  let fake: FakeServer;
  afterEach(() => fake.close());

  it('waits as long as Retry-After asks (seconds) on 429, plus up to a tenth of jitter', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/delete`, [
        throttled({ 'Retry-After': '7' }),
        throttled({ 'Retry-After': '2' }),
      ]),
    );
    const client = clientFor(fake);

    // Act
    await client.workspace('acme-prod').terminateCluster('c-1');

    // Assess: the whole Retry-After, then half (random 0.5) of a tenth of it
    expect(clock().sleeps).toEqual([7000 + 350, 2000 + 100]);
    expect(fake.apiRequests()).toHaveLength(3);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    // Prepare
    const at = new Date(clock().now() + 12_000).toUTCString();
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/get`, [throttled({ 'Retry-After': at })], {
        status: 200,
        body: CLUSTER,
      }),
    );
    const client = clientFor(fake);

    // Act
    await client.workspace('acme-prod').getCluster('c-1');

    // Assess
    // Assess: at least what the date asks (to the second), plus at most one base delay of jitter
    expect(clock().sleeps).toHaveLength(1);
    expect(clock().sleeps[0]).toBeGreaterThan(10_000);
    expect(clock().sleeps[0]).toBeLessThanOrEqual(12_000 + 1000);
  });

  it('backs off exponentially with jitter when 429 has no Retry-After', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/delete`, [throttled(), throttled(), throttled()]),
    );
    const client = clientFor(fake, { random: () => 0.5 });

    // Act
    await client.workspace('acme-prod').terminateCluster('c-1');

    // Assess: half of 1 s, 2 s, 4 s
    expect(clock().sleeps).toEqual([500, 1000, 2000]);
  });

  it('caps the backoff at maxDelayMs', async () => {
    // Prepare
    fake = await startFake(failingThen(`${WS}/api/2.1/clusters/delete`, Array(6).fill(throttled())));
    const client = clientFor(fake, { random: () => 0.999, maxDelayMs: 5000, maxAttempts: 10 });

    // Act
    await client.workspace('acme-prod').terminateCluster('c-1');

    // Assess
    expect(clock().sleeps.map((ms) => Math.round(ms / 100) * 100)).toEqual([
      1000, 2000, 4000, 5000, 5000, 5000,
    ]);
  });

  it('raises DatabricksThrottled when 429s outlast the attempts', async () => {
    // Prepare
    fake = await startFake(failingThen(`${WS}/api/2.1/clusters/delete`, Array(10).fill(throttled())));
    const client = clientFor(fake, { maxAttempts: 4 });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').terminateCluster('c-1'));

    // Assess
    expect(error).toBeInstanceOf(DatabricksThrottled);
    expect(error.name).toBe('DatabricksThrottled');
    expect(error.retryable).toBe(true);
    expect(error.attempts).toBe(4);
    expect(error.message).toContain(
      'POST /api/2.1/clusters/delete (workspace acme-prod) failed after 4 attempts: 429 REQUEST_LIMIT_EXCEEDED',
    );
    expect(fake.apiRequests()).toHaveLength(4);
  });

  it('gives up at once when Retry-After exceeds the retry budget', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/delete`, [throttled({ 'Retry-After': '600' })]),
    );
    const client = clientFor(fake, { maxRetryTimeMs: 60_000 });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').terminateCluster('c-1'));

    // Assess
    expect(error.name).toBe('DatabricksThrottled');
    expect(clock().sleeps).toEqual([]);
    expect(fake.apiRequests()).toHaveLength(1);
  });

  it('counts every wait against the retry budget', async () => {
    // Prepare
    fake = await startFake(failingThen(`${WS}/api/2.1/clusters/delete`, Array(10).fill(throttled())));
    const client = clientFor(fake, { random: () => 0.5, maxRetryTimeMs: 2500 });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').terminateCluster('c-1'));

    // Assess: 500 + 1000 fit, the next 2000 would not
    expect(error.name).toBe('DatabricksThrottled');
    expect(clock().sleeps).toEqual([500, 1000]);
    expect(error.attempts).toBe(3);
  });

  it('retries a 500 on a GET', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/get`, [internal, internal], { status: 200, body: CLUSTER }),
    );
    const client = clientFor(fake);

    // Act
    const cluster = await client.workspace('acme-prod').getCluster('c-1');

    // Assess
    expect(cluster.state).toBe('RUNNING');
    expect(fake.apiRequests()).toHaveLength(3);
  });

  it.each([
    ['terminateCluster', `${WS}/api/2.1/clusters/delete`],
    ['stopWarehouse', `${WS}/api/2.0/sql/warehouses/w-1/stop`],
    ['stopPipeline', `${WS}/api/2.0/pipelines/p-1/stop`],
    ['cancelRun', `${WS}/api/2.2/jobs/runs/cancel`],
    ['updateJob', `${WS}/api/2.2/jobs/update`],
    ['editInstancePool', `${WS}/api/2.0/instance-pools/edit`],
  ] as const)('retries a 500 on the idempotent %s', async (method, path) => {
    // Prepare
    fake = await startFake(failingThen(path, [internal]));
    const ws = clientFor(fake).workspace('acme-prod');
    const calls = {
      terminateCluster: () => ws.terminateCluster('c-1'),
      stopWarehouse: () => ws.stopWarehouse('w-1'),
      stopPipeline: () => ws.stopPipeline('p-1'),
      cancelRun: () => ws.cancelRun(901),
      updateJob: () => ws.updateJob(11, { max_concurrent_runs: 1 }),
      editInstancePool: () =>
        ws.editInstancePool({ instance_pool_id: 'p', instance_pool_name: 'pool', node_type_id: 'i3.xlarge' }),
    };

    // Act
    await calls[method]();

    // Assess
    expect(fake.apiRequests()).toHaveLength(2);
  });

  it('does not repeat clusters/start after a 500', async () => {
    // Prepare
    fake = await startFake(failingThen(`${WS}/api/2.1/clusters/start`, [internal]));
    const client = clientFor(fake);

    // Act
    const error = await thrown(() => client.workspace('acme-prod').startCluster('c-1'));

    // Assess
    expect(error).toBeInstanceOf(DatabricksUnavailable);
    expect(error.status).toBe(500);
    expect(error.attempts).toBe(1);
    expect(fake.apiRequests()).toHaveLength(1);
  });

  it('does not repeat the workspace PATCH or the key-configuration create after a 500', async () => {
    // Prepare
    fake = await startFake((req) => (req.path.endsWith('/v1/token') ? undefined : internal));
    const account = clientFor(fake).account;

    // Act
    const patch = await thrown(() =>
      account.updateWorkspaceKeys(1, { managed_services_customer_managed_key_id: 'cmk-new' }),
    );
    const create = await thrown(() =>
      account.createKeyConfig({
        use_cases: ['MANAGED_SERVICES'],
        aws_key_info: { key_arn: 'arn:aws:kms:us-east-1:1:key/k' },
      }),
    );

    // Assess
    expect([patch.name, create.name]).toEqual(['DatabricksUnavailable', 'DatabricksUnavailable']);
    expect(fake.apiRequests().map((r) => r.method)).toEqual(['PATCH', 'POST']);
  });

  it('retries clusters/start after a 503, which promises nothing happened', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/start`, [
        { status: 503, body: { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'try later' } },
      ]),
    );
    const client = clientFor(fake);

    // Act
    await client.workspace('acme-prod').startCluster('c-1');

    // Assess
    expect(fake.apiRequests()).toHaveLength(2);
  });

  it('retries after a dropped connection', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/get`, ['drop', 'drop'], { status: 200, body: CLUSTER }),
    );
    const client = clientFor(fake);

    // Act
    const cluster = await client.workspace('acme-prod').getCluster('c-1');

    // Assess
    expect(cluster.cluster_id).toBe('c-1');
    expect(fake.apiRequests()).toHaveLength(3);
  });

  it('raises DatabricksUnavailable with status 0 when the network keeps failing', async () => {
    // Prepare
    fake = await startFake(failingThen(`${WS}/api/2.1/clusters/get`, Array(10).fill('drop')));
    const client = clientFor(fake, { maxAttempts: 3 });

    // Act
    const error = await thrown(() => client.workspace('acme-prod').getCluster('c-1'));

    // Assess
    expect(error).toBeInstanceOf(DatabricksUnavailable);
    expect(error.status).toBe(0);
    expect(error.errorCode).toBe('NETWORK_ERROR');
    expect(error.message).toContain(
      'GET /api/2.1/clusters/get (workspace acme-prod) failed after 3 attempts: network error',
    );
  });

  it('times out a request that does not answer and retries it', async () => {
    // Prepare
    let calls = 0;
    fake = await startFake();
    const slow = await import('node:http').then(({ createServer }) => {
      const server = createServer((req, res) => {
        if (req.url?.endsWith('/v1/token')) {
          res.end(JSON.stringify({ access_token: 't', expires_in: 3600 }));
          return;
        }
        calls += 1;
        if (calls === 1) return; // never answers
        res.end(JSON.stringify(CLUSTER));
      });
      return new Promise<typeof server>((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
    });
    const port = (slow.address() as { port: number }).port;
    const client = clientFor(fake, {
      workspaceUrlTemplate: `http://127.0.0.1:${port}/ws/{deployment_name}`,
      requestTimeoutMs: 100,
    });

    // Act
    const cluster = await client.workspace('acme-prod').getCluster('c-1');
    slow.closeAllConnections();
    slow.close();

    // Assess
    expect(cluster.state).toBe('RUNNING');
    expect(calls).toBe(2);
  });

  it('does not retry a 400 refusal', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/delete`, [
        {
          status: 400,
          body: { error_code: 'INVALID_PARAMETER_VALUE', message: 'Cluster c-1 does not exist' },
        },
      ]),
    );
    const client = clientFor(fake);

    // Act
    const error = await thrown(() => client.workspace('acme-prod').terminateCluster('c-1'));

    // Assess
    expect(error.name).toBe('DatabricksApiError');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'POST /api/2.1/clusters/delete (workspace acme-prod) failed: 400 INVALID_PARAMETER_VALUE: Cluster c-1 does not exist',
    );
    expect(fake.apiRequests()).toHaveLength(1);
  });

  it('names a non-JSON error page by its HTTP status text', async () => {
    // Prepare
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/start`, [{ status: 502, body: '<html>Bad gateway</html>' }]),
    );
    const client = clientFor(fake);

    // Act
    const error = await thrown(() => client.workspace('acme-prod').startCluster('c-1'));

    // Assess
    expect(error.errorCode).toBe('BAD_GATEWAY');
    expect(error.status).toBe(502);
  });

  it('reports every exchange to onCall', async () => {
    // Prepare
    const seen: { method: string; path: string; status: number; attempt: number }[] = [];
    fake = await startFake(
      failingThen(`${WS}/api/2.1/clusters/get`, [throttled()], { status: 200, body: CLUSTER }),
    );
    const client = clientFor(fake, {
      onCall: ({ method, path, status, attempt }) => seen.push({ method, path, status, attempt }),
    });

    // Act
    await client.workspace('acme-prod').getCluster('c-1');

    // Assess
    expect(seen).toEqual([
      { method: 'POST', path: '/ws/acme-prod/oidc/v1/token', status: 200, attempt: 1 },
      { method: 'GET', path: '/api/2.1/clusters/get', status: 429, attempt: 1 },
      { method: 'GET', path: '/api/2.1/clusters/get', status: 200, attempt: 2 },
    ]);
  });
});
