import type { Clock } from '../lib/clock.ts';

/**
 * The clock the emulators run on: simulated epoch ms and seconds since start, sleeps on the same timeline, and
 * jumps. Two implementations: `SimClock` (real time, scaled: the standalone emulator, which external clients
 * talk to) and `VirtualClock` (local/virtual-time.ts: the local runner's discrete-event time).
 */
export interface EmulatorClock extends Clock {
  /** Simulated seconds per real second (the virtual clock: pacing only, 0 = as fast as possible). */
  readonly timeScale: number;
  /** Simulated seconds since the clock started. */
  seconds(): number;
  /** The simulated epoch ms of a point given in simulated seconds since start. */
  epochMsAt(seconds: number): number;
  /** Jumps the clock forward by `seconds`. */
  advance(seconds: number): void;
}

interface Sleeper {
  until: number;
  resolve: () => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A scaled, jumpable real-time clock: `timeScale` simulated seconds pass per real second, and `advance()`
 * jumps ahead. The standalone emulator runs on it (default `--time-scale 1`, so external clients see tokens
 * expire when they expect); the local runner uses the virtual clock instead (local/virtual-time.ts).
 */
export class SimClock implements EmulatorClock {
  readonly timeScale: number;
  private readonly startEpochMs: number;
  private readonly realStart = performance.now();
  private advancedMs = 0;
  private readonly sleepers = new Set<Sleeper>();

  constructor(options: { timeScale: number; startEpochMs?: number }) {
    if (!Number.isFinite(options.timeScale) || options.timeScale <= 0) {
      throw new RangeError(`timeScale must be a positive number, got ${options.timeScale}`);
    }
    this.timeScale = options.timeScale;
    this.startEpochMs = options.startEpochMs ?? Date.now();
  }

  /** Simulated epoch milliseconds (integer, like `Date.now()`). */
  now(): number {
    return Math.floor(this.exactNow());
  }

  /** Simulated seconds since the clock started. */
  seconds(): number {
    return (this.exactNow() - this.startEpochMs) / 1000;
  }

  /** The simulated epoch ms of a point given in simulated seconds since start. */
  epochMsAt(seconds: number): number {
    return Math.floor(this.startEpochMs + seconds * 1000);
  }

  /** Waits `ms` of simulated time (`ms / timeScale` real ms); ends early when `advance()` jumps past it. */
  sleep(ms: number): Promise<void> {
    if (!(ms > 0)) return new Promise((resolve) => setImmediate(resolve));
    const sleeper: Sleeper = { until: this.exactNow() + ms, resolve: () => {}, timer: undefined };
    return new Promise<void>((resolve) => {
      sleeper.resolve = () => {
        if (sleeper.timer) clearTimeout(sleeper.timer);
        this.sleepers.delete(sleeper);
        resolve();
      };
      this.sleepers.add(sleeper);
      this.arm(sleeper);
    });
  }

  /** Jumps the clock forward by `seconds` of simulated time and wakes the sleepers it passed. */
  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new RangeError(`advance needs seconds >= 0, got ${seconds}`);
    this.advancedMs += seconds * 1000;
    const now = this.exactNow();
    for (const sleeper of [...this.sleepers]) if (sleeper.until <= now) sleeper.resolve();
  }

  private exactNow(): number {
    return this.startEpochMs + (performance.now() - this.realStart) * this.timeScale + this.advancedMs;
  }

  private arm(sleeper: Sleeper): void {
    const remainingReal = (sleeper.until - this.exactNow()) / this.timeScale;
    // Real timers fire no sooner than asked, so one re-check covers rounding of the scaled delay.
    sleeper.timer = setTimeout(
      () => {
        if (this.exactNow() >= sleeper.until - 1e-6) sleeper.resolve();
        else this.arm(sleeper);
      },
      Math.max(0, remainingReal),
    );
  }
}
