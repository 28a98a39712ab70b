import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

/**
 * Virtual time (issue: "a simulation you can measure on"): the same scenario and seed give the identical
 * report — times, call log and its order, call counts, transitions, final state — as fast as possible, paced
 * for watching, and with the machine busy (another thread spinning, and the run's own event loop held up).
 */

const SCENARIOS = ['demo', 'lost-answers', 'compute-comes-back'];

const load = (name: string) =>
  loadScenario(new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname);

/** Keeps one core busy in another thread and blocks this thread’s event loop 10 ms out of every 25. */
async function underLoad<T>(work: () => Promise<T>): Promise<T> {
  const spinner = new Worker('for (;;) {}', { eval: true });
  const hog = setInterval(() => {
    const until = Date.now() + 10;
    while (Date.now() < until) {
      // busy
    }
  }, 15);
  try {
    return await work();
  } finally {
    clearInterval(hog);
    await spinner.terminate();
  }
}

describe('Determinism: the report does not depend on the time scale or the machine’s load', () => {
  it.each(SCENARIOS)(
    '%s gives the identical report at two time scales and under CPU load',
    async (name) => {
      // Prepare
      const scenario = await load(name);
      // Act
      const fast = await runScenario(scenario);
      const paced = await runScenario(scenario, { timeScale: 200_000 });
      const loaded = await underLoad(() => runScenario(scenario));
      // Assess
      expect(fast.callLog.length).toBeGreaterThan(10);
      expect(paced).toEqual(fast);
      expect(loaded).toEqual(fast);
    },
    120_000,
  );
});

describe('API latency model', () => {
  it('takes each call’s round trip from the endpoint’s override, else from timings.apiLatencyMs', async () => {
    // Prepare: every call takes exactly 100 ms; then the same with every cluster list taking 5 s
    const { parseScenario } = await import('../../local/scenario.ts');
    const raw = JSON.parse(JSON.stringify(await load('demo'))) as { databricks: Record<string, unknown> };
    raw.databricks.timings = { ...(raw.databricks.timings as object), apiLatencyMs: [100, 100] };
    const even = parseScenario(raw);
    raw.databricks.latency = [{ method: 'GET', path: '/api/2.1/clusters/list', ms: [5_000, 5_000] }];
    const slowLists = parseScenario(raw);
    // Act
    const a = await runScenario(even);
    const b = await runScenario(slowLists);
    // Assess: slow cluster lists push the update back by seconds
    const patchAt = (r: typeof a) => r.callLog.find((e) => e.method === 'PATCH')?.t ?? 0;
    expect(patchAt(b) - patchAt(a)).toBeGreaterThanOrEqual(5);
    expect(b.status).toBe('SUCCEEDED');
  }, 60_000);
});
