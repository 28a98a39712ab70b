import { describe, expect, it } from 'vitest';
import { AimdLimiter, type Permit, settleLimit } from '../../lib/concurrency.ts';

/** Lets pending promise chains run (the limiter admits from `then` callbacks). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock the test moves by hand: `sleep` resolves only when `advance` passes its time. */
function manualClock(start = 1_000_000) {
  let now = start;
  let timers: Array<{ at: number; wake: () => void }> = [];
  return {
    now: () => now,
    sleep: (ms: number) => new Promise<void>((wake) => timers.push({ at: now + ms, wake })),
    async advance(ms: number): Promise<void> {
      const target = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > target) break;
        timers = timers.slice(1);
        now = next.at;
        next.wake();
        await settle();
      }
      now = target;
      await settle();
    },
  };
}

/** A limiter on a manual clock, and helpers that track which requests were admitted. */
function setup(options: { ceiling: number; minIntervalMs?: number; minWriteIntervalMs?: number }) {
  const clock = manualClock();
  const limiter = new AimdLimiter({ ...options, clock: () => clock });
  const admitted: Array<{ name: string; at: number; permit: Permit }> = [];
  const refused: string[] = [];
  const request = (name: string, extra: Parameters<AimdLimiter['acquire']>[0] = {}) => {
    void limiter.acquire(extra).then((permit) => {
      if (permit) admitted.push({ name, at: clock.now(), permit });
      else refused.push(name);
    });
  };
  const names = () => admitted.map((a) => a.name);
  const release = (name: string, outcome: 'success' | 'throttled' | 'neutral', waitMs?: number) =>
    admitted.find((a) => a.name === name)?.permit.release(outcome, waitMs);
  return { clock, limiter, request, names, admitted, refused, release };
}

describe('AimdLimiter: in-flight window', () => {
  it('admits at most `ceiling` requests, then the next in arrival order as slots are released', async () => {
    // Prepare
    const t = setup({ ceiling: 2 });

    // Act
    for (const name of ['a', 'b', 'c', 'd']) t.request(name);
    await settle();
    const first = t.names();
    t.release('b', 'success');
    await settle();

    // Assess
    expect(first).toEqual(['a', 'b']);
    expect(t.names()).toEqual(['a', 'b', 'c']);
    expect(t.limiter.state()).toMatchObject({ limit: 2, inFlight: 2, queued: 1 });
  });

  it('halves the window on a 429, once for all the requests of the same round', async () => {
    // Prepare: 8 in flight, all refused
    const t = setup({ ceiling: 8 });
    for (let i = 0; i < 8; i++) t.request(`r${i}`);
    await settle();

    // Act
    for (let i = 0; i < 8; i++) t.release(`r${i}`, 'throttled');
    await settle();

    // Assess: one cut (8 → 4), not eight
    expect(t.limiter.state().limit).toBe(4);
  });

  it('cuts again for a 429 on a request sent after the last cut, never under the floor of 1', async () => {
    // Prepare
    const t = setup({ ceiling: 8 });
    const limits: number[] = [];

    // Act: five rounds of one request refused each, a second apart (so no pacing is learnt)
    for (let round = 0; round < 5; round++) {
      await t.clock.advance(1000);
      t.request(`r${round}`, { route: `R${round}` });
      await settle();
      t.release(`r${round}`, 'throttled');
      await settle();
      limits.push(t.limiter.state().limit);
    }

    // Assess
    expect(limits).toEqual([4, 2, 1, 1, 1]);
  });

  it('adds one back after a run of `limit` successes, up to the ceiling', async () => {
    // Prepare: window cut from 4 to 2
    const t = setup({ ceiling: 4 });
    t.request('x');
    await settle();
    t.release('x', 'throttled');
    await settle();
    // (a refused request alone in its second does not pace the host)
    expect(t.limiter.state()).toMatchObject({ limit: 2, rate: Number.POSITIVE_INFINITY });
    const limits: number[] = [];

    // Act: ten successes, one at a time
    for (let i = 0; i < 10; i++) {
      t.request(`s${i}`);
      await settle();
      t.release(`s${i}`, 'success');
      await settle();
      limits.push(t.limiter.state().limit);
    }

    // Assess: 2 successes → 3, 3 more → 4, then capped at the ceiling
    expect(limits).toEqual([2, 3, 3, 3, 4, 4, 4, 4, 4, 4]);
  });

  it('ignores neutral outcomes (errors that are not throttling)', async () => {
    // Prepare
    const t = setup({ ceiling: 3 });
    t.request('a');
    await settle();

    // Act
    t.release('a', 'neutral');
    await settle();

    // Assess
    expect(t.limiter.state()).toMatchObject({
      limit: 3,
      inFlight: 0,
      rate: Number.POSITIVE_INFINITY,
      closed: {},
    });
  });
});

describe('AimdLimiter: Retry-After and pacing', () => {
  it('closes the route of a 429 until its Retry-After has passed, and lets other routes pass', async () => {
    // Prepare
    const t = setup({ ceiling: 4 });
    t.request('start-1', { route: 'POST /clusters/start' });
    await settle();
    t.release('start-1', 'throttled', 5000);

    // Act
    t.request('start-2', { route: 'POST /clusters/start' });
    t.request('list', { route: 'GET /clusters/list' });
    await settle();
    const before = t.names();
    await t.clock.advance(4999);
    const justBefore = t.names();
    await t.clock.advance(1);

    // Assess
    expect(before).toEqual(['start-1', 'list']);
    expect(justBefore).toEqual(['start-1', 'list']);
    expect(t.names()).toEqual(['start-1', 'list', 'start-2']);
    expect(t.admitted.find((a) => a.name === 'start-2')?.at).toBe(1_000_000 + 5000);
  });

  it('paces the host at the rate it accepted when a second of requests ends in a 429', async () => {
    // Prepare: five requests in the same instant, the fifth refused (a limit of 4 per second)
    const t = setup({ ceiling: 8 });
    for (let i = 0; i < 5; i++) t.request(`r${i}`, { route: 'R' });
    await settle();
    for (let i = 0; i < 4; i++) t.release(`r${i}`, 'success');
    t.release('r4', 'throttled', 1000);
    await settle();

    // Act: four more on another route (not held up by R's Retry-After, only by the pace)
    for (let i = 0; i < 4; i++) t.request(`n${i}`, { route: 'S' });
    await t.clock.advance(3000);

    // Assess: 4 per second from now on (one every 250 ms after the last start)
    const starts = t.admitted.filter((a) => a.name.startsWith('n')).map((a) => a.at - 1_000_000);
    expect(t.limiter.state().rate).toBe(4);
    expect(starts).toEqual([250, 500, 750, 1000]);
  });

  it('lets one request probe a route once its Retry-After has passed, the others waiting for its answer', async () => {
    // Prepare: the route was refused for 1 s; three requests wait for it
    const t = setup({ ceiling: 8 });
    t.request('first', { route: 'R' });
    await settle();
    t.release('first', 'throttled', 1000);
    for (const name of ['p1', 'p2', 'p3']) t.request(name, { route: 'R' });

    // Act: the probe is refused again (2 s), then the next probe gets through
    await t.clock.advance(1000);
    const afterGate = t.names();
    t.release('p1', 'throttled', 2000);
    await t.clock.advance(1999);
    const stillClosed = t.names();
    await t.clock.advance(1);
    const secondProbe = t.names();
    t.release('p2', 'success');
    await settle();

    // Assess: the refused probe closed the route again without cutting the window a second time
    expect(t.limiter.state().limit).toBe(4);
    expect(afterGate).toEqual(['first', 'p1']);
    expect(stillClosed).toEqual(['first', 'p1']);
    expect(secondProbe).toEqual(['first', 'p1', 'p2']);
    expect(t.names()).toEqual(['first', 'p1', 'p2', 'p3']);
    expect(t.limiter.state().closed).toEqual({});
  });

  it('spaces writes by minWriteIntervalMs, and lets reads through meanwhile', async () => {
    // Prepare
    const t = setup({ ceiling: 8, minWriteIntervalMs: 100 });

    // Act
    t.request('w1', { write: true });
    t.request('w2', { write: true });
    t.request('r1');
    await settle();
    const now = t.names();
    await t.clock.advance(100);

    // Assess
    expect(now).toEqual(['w1', 'r1']);
    expect(t.names()).toEqual(['w1', 'r1', 'w2']);
  });

  it('gives up on a request that could not start before its giveUpAt', async () => {
    // Prepare: the route is closed for 10 s
    const t = setup({ ceiling: 2 });
    t.request('a', { route: 'R' });
    await settle();
    t.release('a', 'throttled', 10_000);

    // Act
    t.request('late', { route: 'R', giveUpAt: 1_000_000 + 5_000 });
    t.request('patient', { route: 'R', giveUpAt: 1_000_000 + 20_000 });
    await settle();
    const refusedAtOnce = [...t.refused];
    await t.clock.advance(10_000);

    // Assess
    expect(refusedAtOnce).toEqual(['late']);
    expect(t.names()).toEqual(['a', 'patient']);
  });
});

describe('settleLimit: stopAfter', () => {
  it('stops starting items after an accepted error and reports the rest as skipped', async () => {
    // Prepare
    const started: number[] = [];

    // Act
    const results = await settleLimit(
      [1, 2, 3, 4, 5],
      1,
      async (n) => {
        started.push(n);
        if (n === 2) throw new Error('throttled');
        if (n === 4) throw new Error('other');
        return n;
      },
      { stopAfter: (error) => (error as Error).message === 'throttled' },
    );

    // Assess
    expect(started).toEqual([1, 2]);
    expect(results.map((r) => (r.ok ? 'ok' : r.skipped ? 'skipped' : 'failed'))).toEqual([
      'ok',
      'failed',
      'skipped',
      'skipped',
      'skipped',
    ]);
  });

  it('tries every item when no error stops it', async () => {
    // Act
    const results = await settleLimit([1, 2, 3], 2, async (n) => {
      if (n === 2) throw new Error('boom');
      return n * 10;
    });

    // Assess
    expect(results).toEqual([
      { ok: true, value: 10 },
      { ok: false, error: new Error('boom') },
      { ok: true, value: 30 },
    ]);
  });
});
describe('AimdLimiter: what a client learnt, handed to the next one', () => {
  it('says nothing while the host never throttled, and the window and pace once it did', async () => {
    // Prepare
    const t = setup({ ceiling: 8 });
    const fresh = t.limiter.pace();
    for (let i = 0; i < 5; i++) t.request(`r${i}`, { route: 'R' });
    await settle();
    for (let i = 0; i < 4; i++) t.release(`r${i}`, 'success');

    // Act
    t.release('r4', 'throttled', 1000);

    // Assess
    expect(fresh).toBeUndefined();
    expect(t.limiter.pace()).toEqual({ limit: 4, rate: 4 });
  });

  it('starts a new limiter at the pace it is given: its first requests are spaced, not refused', async () => {
    // Prepare
    const t = setup({ ceiling: 8 });
    t.limiter.seed({ limit: 2, rate: 4 });

    // Act
    for (let i = 0; i < 4; i++) t.request(`n${i}`, { route: 'S' });
    await settle();
    const first = t.names();
    await t.clock.advance(1000);

    // Assess: 4 per second from the first start, and two in flight at most (none is answered here)
    expect(first).toEqual(['n0']);
    expect(t.admitted.map((a) => a.at - 1_000_000)).toEqual([0, 250]);
    for (const name of t.names()) t.release(name, 'success');
    await settle();
    await t.clock.advance(1000);
    expect(t.admitted.map((a) => a.at - 1_000_000)).toEqual([0, 250, 1000, 1250]);
    expect(t.limiter.state()).toMatchObject({ limit: 2, rate: 4 });
  });

  it('keeps a seeded window within its floor and ceiling, and ignores a pace under 1 request/s or at the unpaced rate', () => {
    const t = setup({ ceiling: 8 });
    t.limiter.seed({ limit: 40, rate: 500 });
    expect(t.limiter.state()).toMatchObject({ limit: 8, rate: Number.POSITIVE_INFINITY });
    t.limiter.seed({ limit: 0, rate: 0.01 });
    expect(t.limiter.state()).toMatchObject({ limit: 1, rate: Number.POSITIVE_INFINITY });
  });
});
