import { describe, expect, it } from 'vitest';
import { SimClock } from '../../local/clock.ts';

describe('SimClock', () => {
  it('starts at the given epoch and moves forward by advance()', () => {
    // Prepare
    const clock = new SimClock({ timeScale: 1, startEpochMs: 1_700_000_000_000 });
    // Act
    clock.advance(3600);
    // Assess
    expect(clock.seconds()).toBeGreaterThanOrEqual(3600);
    expect(clock.seconds()).toBeLessThan(3660);
    expect(clock.now()).toBeGreaterThanOrEqual(1_700_000_000_000 + 3_600_000);
    expect(Number.isInteger(clock.now())).toBe(true);
  });

  it('ends a simulated sleep only once that much simulated time has passed', async () => {
    const clock = new SimClock({ timeScale: 6000 });
    const start = clock.seconds();

    // One simulated minute at 6000x is ten real milliseconds.
    await clock.sleep(60_000);

    expect(clock.seconds() - start).toBeGreaterThanOrEqual(60);
  });

  it('sleeps simulated milliseconds and wakes sleepers when advance() passes their time', async () => {
    const clock = new SimClock({ timeScale: 1 });
    let woke = false;
    const sleeping = clock.sleep(3_600_000).then(() => {
      woke = true;
    });

    clock.advance(10);
    await new Promise((resolve) => setImmediate(resolve));
    const beforeDeadline = woke;
    clock.advance(3600);
    await sleeping;

    expect(beforeDeadline).toBe(false);
    expect(woke).toBe(true);
  });

  it('refuses a non-positive time scale and a negative advance', () => {
    expect(() => new SimClock({ timeScale: 0 })).toThrow(RangeError);
    expect(() => new SimClock({ timeScale: 1 }).advance(-1)).toThrow(RangeError);
  });
});
