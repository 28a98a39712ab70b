import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineStep } from '../../functions/commons/handler.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { DatabricksThrottled, DatabricksUnavailable } from '../../lib/databricks/client.ts';
import { deadlineAfter, realTimeLeftMs, withDeadline } from '../../lib/deadline.ts';
import { type FakeServer, fakeClock, type Reply, startFake } from './fake-server.ts';
import { clientFor, thrown } from './setup.ts';

const CLUSTER = { cluster_id: 'c-1', state: 'RUNNING', cluster_source: 'UI' };
const GET_CLUSTER = '/ws/acme-prod/api/2.1/clusters/get';
const unavailable: Reply = { status: 503, body: { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'later' } };

/** The real milliseconds `fn` took, and what it threw. */
async function timed(
  fn: () => Promise<unknown>,
): Promise<{ ms: number; error: Error & Record<string, unknown> }> {
  const t0 = performance.now();
  const error = await thrown(fn);
  return { ms: performance.now() - t0, error };
}

describe('Databricks client: the Lambda time budget (real time)', () => {
  let fake: FakeServer;
  afterEach(() => fake.close());

  it('returns a retryable DatabricksUnavailable within a 3 s budget when Databricks answers 503 forever', async () => {
    // Prepare: the system clock, so retry waits take real time as in Lambda
    fake = await startFake((req) => (req.path === GET_CLUSTER ? unavailable : undefined));
    const client = clientFor(fake);

    // Act
    const { ms, error } = await timed(() =>
      withDeadline(deadlineAfter(3_000), () => client.workspace('acme-prod').getCluster('c-1')),
    );

    // Assess: 0.5 s and 1 s waits fit (jitter 0.5); the 2 s one would not
    expect(error).toBeInstanceOf(DatabricksUnavailable);
    expect(error.name).toBe('DatabricksUnavailable');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain("The Lambda invocation's time budget ran out");
    expect(error.message).toContain(
      'GET /api/2.1/clusters/get (workspace acme-prod) failed after 3 attempts: 503',
    );
    expect(fake.apiRequests()).toHaveLength(3);
    expect(ms).toBeGreaterThan(1_400);
    expect(ms).toBeLessThan(3_000);
  });

  it('cuts the request timeout to the budget when Databricks does not answer at all', async () => {
    // Prepare: a server that accepts the request and never answers
    const silent = await listen((req, res) => {
      if (req.url?.endsWith('/v1/token')) res.end(JSON.stringify({ access_token: 't', expires_in: 3600 }));
    });
    fake = await startFake();
    const client = clientFor(fake, {
      workspaceUrlTemplate: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/ws/{deployment_name}`,
    });

    // Act
    const { ms, error } = await timed(() =>
      withDeadline(deadlineAfter(3_000), () => client.workspace('acme-prod').getCluster('c-1')),
    ).finally(() => {
      silent.closeAllConnections();
      silent.close();
    });

    // Assess: the 30 s default request timeout became the 2.5 s left
    expect(error.name).toBe('DatabricksUnavailable');
    expect(error.errorCode).toBe('TIMEOUT');
    expect(error.message).toContain('time budget ran out');
    expect(ms).toBeGreaterThan(2_300);
    expect(ms).toBeLessThan(3_000);
  });

  it('gives up at once with DatabricksThrottled when Retry-After asks for more than the time left', async () => {
    // Prepare
    fake = await startFake((req) =>
      req.path === GET_CLUSTER
        ? { status: 429, body: { error_code: 'REQUEST_LIMIT_EXCEEDED' }, headers: { 'Retry-After': '10' } }
        : undefined,
    );
    const client = clientFor(fake);

    // Act
    const { ms, error } = await timed(() =>
      withDeadline(deadlineAfter(5_000), () => client.workspace('acme-prod').getCluster('c-1')),
    );

    // Assess
    expect(error).toBeInstanceOf(DatabricksThrottled);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('time budget ran out');
    expect(fake.apiRequests()).toHaveLength(1);
    expect(ms).toBeLessThan(1_000);
  });

  it('makes no call at all when no time is left', async () => {
    // Prepare
    fake = await startFake(() => ({ status: 200, body: CLUSTER }));
    const client = clientFor(fake);

    // Act
    const error = await thrown(() =>
      withDeadline(Date.now() - 1, () => client.workspace('acme-prod').getCluster('c-1')),
    );

    // Assess
    expect(error.name).toBe('DatabricksUnavailable');
    expect(error.errorCode).toBe('TIME_BUDGET_EXHAUSTED');
    expect(error.message).toContain('no time left to try it');
    expect(fake.seen).toEqual([]);
  });

  describe('the normal path', () => {
    let previous: Clock;
    let clock: ReturnType<typeof fakeClock>;
    beforeAll(() => {
      clock = fakeClock();
      previous = setClock(clock);
    });
    afterAll(() => {
      setClock(previous);
    });

    it('retries with the same waits under a budget as without one', async () => {
      // Prepare
      let calls = 0;
      fake = await startFake((req) => {
        if (req.path !== GET_CLUSTER) return undefined;
        calls += 1;
        return calls <= 2 ? unavailable : { status: 200, body: CLUSTER };
      });
      const client = clientFor(fake);

      // Act
      const cluster = await withDeadline(deadlineAfter(300_000), () =>
        client.workspace('acme-prod').getCluster('c-1'),
      );

      // Assess
      expect(cluster.state).toBe('RUNNING');
      expect(clock.sleeps).toEqual([500, 1000]);
    });
  });
});

describe('deadline: the invocation budget', () => {
  it('keeps 10 % of the remaining time as a safety margin, at least 0.5 s and at most 5 s', () => {
    expect(deadlineAfter(3_000, 0)).toBe(2_500);
    expect(deadlineAfter(20_000, 0)).toBe(18_000);
    expect(deadlineAfter(300_000, 0)).toBe(295_000);
    expect(deadlineAfter(300, 0)).toBe(0);
  });

  it('is undefined outside a step', () => {
    expect(realTimeLeftMs()).toBeUndefined();
  });

  it('keeps concurrent invocations apart (the local runner runs several at once)', async () => {
    // Act
    const seen = await Promise.all([
      withDeadline(Date.now() + 10_000, async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return realTimeLeftMs();
      }),
      withDeadline(Date.now() + 60_000, async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return realTimeLeftMs();
      }),
    ]);

    // Assess
    expect(seen[0]).toBeLessThanOrEqual(10_000);
    expect(seen[1]).toBeGreaterThan(50_000);
  });
});

describe('defineStep: the budget comes from the Lambda context', () => {
  const saved = { ...process.env };
  let fake: FakeServer;
  beforeAll(() => {
    Object.assign(process.env, {
      DATABRICKS_ACCOUNT_ID: 'acc-1',
      DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
    });
  });
  afterAll(() => {
    process.env = { ...saved };
  });
  afterEach(() => fake.close());

  const context = (remainingMs: number) =>
    ({ getRemainingTimeInMillis: () => remainingMs }) as unknown as Context;

  it('gives a client cached across invocations the budget of each invocation', async () => {
    // Prepare: a client created once, as databricksFor does per container; 503s, then answers
    let healthy = false;
    fake = await startFake((req) =>
      req.path === GET_CLUSTER ? (healthy ? { status: 200, body: CLUSTER } : unavailable) : undefined,
    );
    const client = clientFor(fake);
    const deadlines: (number | undefined)[] = [];
    const handler = defineStep('budget-probe', z.object({ clusterId: z.string() }), async (input, env) => {
      deadlines.push(env.deadline);
      return (await client.workspace('acme-prod').getCluster(input.clusterId)).state;
    });

    // Act
    const t0 = performance.now();
    const first = await handler({ clusterId: 'c-1' }, context(3_000)).catch((e: unknown) => e as Error);
    const firstMs = performance.now() - t0;
    healthy = true;
    const second = await handler({ clusterId: 'c-1' }, context(60_000));

    // Assess
    expect(first).toBeInstanceOf(DatabricksUnavailable);
    expect((first as Error).message).toContain('time budget ran out');
    expect(firstMs).toBeLessThan(3_000);
    expect(second).toBe('RUNNING');
    expect(deadlines).toHaveLength(2);
    expect((deadlines[1] ?? 0) - (deadlines[0] ?? 0)).toBeGreaterThan(50_000);
  });
});

describe('defineStep: a step that overruns its Lambda', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    Object.assign(process.env, {
      DATABRICKS_ACCOUNT_ID: 'acc-1',
      DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf',
    });
  });
  afterAll(() => {
    process.env = { ...saved };
  });

  it('ends with a retryable TransientError just before Lambda would kill it', async () => {
    // Prepare: a step that never finishes
    const handler = defineStep('stuck', z.unknown(), () => new Promise<never>(() => undefined));
    const context = { getRemainingTimeInMillis: () => 1_000 } as unknown as Context;

    // Act
    const t0 = performance.now();
    const error = (await handler({}, context).catch((e: unknown) => e)) as Error;
    const ms = performance.now() - t0;

    // Assess
    expect(error.name).toBe('TransientError');
    expect(error.message).toContain('stuck ran out of its Lambda time budget');
    expect(ms).toBeGreaterThan(700);
    expect(ms).toBeLessThan(1_000);
  });
});

async function listen(handle: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
