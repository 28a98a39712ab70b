import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { SimulationStalled, VirtualClock } from '../../local/virtual-time.ts';

describe('Virtual time', () => {
  it('jumps to each timer in order, so a day of waiting costs no real time', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    const seen: Array<[string, number]> = [];
    const realStart = performance.now();
    // Act
    await clock.run(async () => {
      await Promise.all([
        clock.sleep(86_400_000).then(() => seen.push(['day', Date.now()])),
        new Promise<void>((resolve) => setTimeout(resolve, 1_500)).then(() =>
          seen.push(['timeout', Date.now()]),
        ),
        clock.sleep(1_500).then(() => seen.push(['sleep', Date.now()])),
      ]);
    });
    // Assess: equal due times fire in the order they were set
    expect(seen).toEqual([
      ['timeout', 1_500],
      ['sleep', 1_500],
      ['day', 86_400_000],
    ]);
    expect(clock.seconds()).toBe(86_400);
    expect(performance.now() - realStart).toBeLessThan(5_000);
  });

  it('lets CPU time cost no simulated time', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    // Act
    const elapsed = await clock.run(async () => {
      const t0 = Date.now();
      const until = globalThis.performance.timeOrigin; // any real work: spin ~50 real ms
      const spinUntil = Number(process.hrtime.bigint() / 1_000_000n) + 50;
      while (Number(process.hrtime.bigint() / 1_000_000n) < spinUntil) void until;
      await clock.sleep(10);
      return Date.now() - t0;
    });
    // Assess
    expect(elapsed).toBe(10);
  });

  it('keeps timers, time and randomness of code outside the run real', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0, seed: 7 });
    const insideRandom: number[] = [];
    // Act
    await clock.run(async () => {
      insideRandom.push(Math.random(), Math.random());
      await clock.sleep(1_000);
    });
    const again = new VirtualClock({ startEpochMs: 0, seed: 7 });
    const replay = await again.run(async () => [Math.random(), Math.random()]);
    // Assess
    expect(Date.now()).toBeGreaterThan(Date.UTC(2020, 0, 1));
    expect(insideRandom).toEqual(replay);
    expect(clock.now()).toBe(1_000);
  });

  it('cancels a cleared timer and repeats an interval', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    const ticks: number[] = [];
    // Act
    await clock.run(async () => {
      const cancelled = setTimeout(() => ticks.push(-1), 100);
      clearTimeout(cancelled);
      const every = setInterval(() => ticks.push(Date.now()), 250);
      await clock.sleep(1_100);
      clearInterval(every);
    });
    // Assess
    expect(ticks).toEqual([250, 500, 750, 1_000]);
  });

  it('fails with SimulationStalled when the run waits on something that is not a timer', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    // Act
    const run = clock.run(() => new Promise<void>(() => {}));
    // Assess
    await expect(run).rejects.toThrow(SimulationStalled);
  });

  it('paces the run only when asked, without changing what happens', async () => {
    // Prepare
    const times = async (timeScale: number) => {
      const clock = new VirtualClock({ startEpochMs: 0, timeScale });
      const out: number[] = [];
      await clock.run(async () => {
        for (let i = 0; i < 3; i++) {
          await clock.sleep(60_000);
          out.push(Date.now());
        }
      });
      return out;
    };
    // Act
    const realStart = performance.now();
    const paced = await times(600);
    const pacedMs = performance.now() - realStart;
    // Assess: 3 minutes at 600× take about 0.3 real seconds, and the times are the same as unpaced
    expect(paced).toEqual(await times(0));
    expect(pacedMs).toBeGreaterThanOrEqual(250);
  });
});

describe('Step Functions semantics on virtual time (aws-local-stepfunctions in the run)', () => {
  const machine = (retry: Record<string, unknown>) =>
    new StateMachine({
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: 'arn:aws:lambda:us-east-1:000000000000:function:f',
          Retry: [{ ErrorEquals: ['Flaky'], ...retry }],
          Next: 'Pause',
        },
        Pause: { Type: 'Wait', Seconds: 600, End: true },
      },
    } as never);

  async function attempts(retry: Record<string, unknown>, failures: number) {
    const clock = new VirtualClock({ startEpochMs: 0, seed: 3 });
    const at: number[] = [];
    const end = await clock.run(async () => {
      const execution = machine(retry).run(
        {},
        {
          overrides: {
            taskResourceLocalHandlers: {
              Call: async () => {
                at.push(clock.seconds());
                if (at.length <= failures) throw Object.assign(new Error('try again'), { name: 'Flaky' });
                return {};
              },
            },
          },
        },
      );
      await execution.result;
      return clock.seconds();
    });
    return { at, end };
  }

  it('waits IntervalSeconds × BackoffRate^n between attempts, capped by MaxDelaySeconds, and Wait states', async () => {
    // Act
    const { at, end } = await attempts(
      { IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 4, MaxDelaySeconds: 10 },
      3,
    );
    // Assess: 2, then 6, then 18 capped to 10
    expect(at).toEqual([0, 2, 8, 18]);
    expect(end).toBe(618);
  });

  it('draws FULL jitter from the seeded generator: the same waits every time', async () => {
    // Act
    const first = await attempts({ IntervalSeconds: 10, BackoffRate: 2, JitterStrategy: 'FULL' }, 2);
    const second = await attempts({ IntervalSeconds: 10, BackoffRate: 2, JitterStrategy: 'FULL' }, 2);
    // Assess
    expect(first.at).toEqual(second.at);
    expect(first.at[1]).toBeLessThanOrEqual(10);
    expect(first.at[1]).not.toBe(10);
  });
});
