import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import type { EmulatorClock } from './clock.ts';
import { mulberry32 } from './emulator/random.ts';

/**
 * Virtual time for the local runner: a discrete-event simulation.
 *
 * Simulated time never follows the machine's clock. It stands still while anything in the run can still make
 * progress (a handler computing, a promise chain resolving), and jumps to the earliest pending timer only
 * when every piece of work is waiting on one — a Wait state, a Retry interval, a `Retry-After` pause, an
 * API call's modelled latency, a platform transition. So CPU time costs no simulated time, a 24 h wait
 * costs no real time, and the same scenario and seed give the same run on any machine, under any load.
 *
 * How the run is confined: `run(work)` executes `work` inside an `AsyncLocalStorage` zone. While code runs in
 * the zone — the state machine interpreter, the product's handlers, the emulators — `setTimeout`,
 * `setInterval`, `Date.now`, `performance.now` and `Math.random` are the simulation's (timers on the virtual
 * clock, time from it, a PRNG seeded by the scenario). Code outside the zone (the test framework, the
 * terminal) sees the real ones. Node's own internals keep their private timers, so sockets are unaffected;
 * the runner sends Databricks calls in process (no socket) so that every call is visible to the scheduler.
 *
 * When is the run idle? Everything the zone does is promises and timers. After a turn of the real event loop
 * every microtask queued before it has run; if two turns in a row see no new timer and no pending immediate,
 * every piece of work is waiting on a virtual timer, and the earliest one fires. Timers due at the same
 * instant fire one at a time in the order they were set, each followed by that settling, as Node would run them.
 */

const zone = new AsyncLocalStorage<VirtualClock>();

const real = {
  setTimeout: globalThis.setTimeout,
  clearTimeout: globalThis.clearTimeout,
  setInterval: globalThis.setInterval,
  clearInterval: globalThis.clearInterval,
  setImmediate: globalThis.setImmediate,
  dateNow: Date.now,
  performanceNow: performance.now.bind(performance),
  random: Math.random,
};

/** The run waits on something that is not a timer, and nothing else can happen: it would never end. */
export class SimulationStalled extends Error {
  override name = 'SimulationStalled';
}

interface Timer {
  /** When it was set (simulated epoch ms). */
  set: number;
  until: number;
  seq: number;
  fire: () => void;
  cancelled: boolean;
  /** Repeat interval in ms (`setInterval`). */
  every?: number;
}

/** What `setTimeout` returns inside the zone: enough of Node's `Timeout` for the code we run. */
class VirtualTimeout {
  constructor(
    public timer: Timer,
    private readonly clock: VirtualClock,
  ) {}
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return true;
  }
  refresh(): this {
    this.timer = this.clock.reschedule(this.timer);
    return this;
  }
  close(): this {
    this.timer.cancelled = true;
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.timer.seq;
  }
}

/** Longest real pause for one jump of simulated time when pacing (`timeScale` > 0): long waits are shortened. */
const MAX_PACED_PAUSE_MS = 2_000;

export class VirtualClock implements EmulatorClock {
  /** Pacing only: simulated seconds per real second, 0 = as fast as the machine goes. Never changes results. */
  readonly timeScale: number;
  private readonly startEpochMs: number;
  private nowMs: number;
  private readonly heap: Timer[] = [];
  private seq = 0;
  private activity = 0;
  private pendingImmediates = 0;
  private busy = 0;
  private busyEnded: (() => void) | undefined;
  private readonly randomFn: () => number;

  constructor(options: { startEpochMs?: number; timeScale?: number; seed?: number } = {}) {
    const scale = options.timeScale ?? 0;
    if (!Number.isFinite(scale) || scale < 0) {
      throw new RangeError(`timeScale must be 0 (as fast as possible) or a positive number, got ${scale}`);
    }
    this.timeScale = scale;
    // A round start keeps reports readable; it does not depend on when the run happens.
    this.startEpochMs = options.startEpochMs ?? Date.UTC(2026, 0, 1);
    this.nowMs = this.startEpochMs;
    this.randomFn = mulberry32(options.seed ?? 1);
  }

  /** Simulated epoch milliseconds (integer, like `Date.now()`). */
  now(): number {
    return Math.floor(this.nowMs);
  }

  /** Simulated seconds since the clock started. */
  seconds(): number {
    return (this.nowMs - this.startEpochMs) / 1000;
  }

  /** The simulated epoch ms of a point given in simulated seconds since start. */
  epochMsAt(seconds: number): number {
    return Math.floor(this.startEpochMs + seconds * 1000);
  }

  /** Resolves after `ms` of simulated time (a timer like any other; 0 still yields to what is due now). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.schedule(ms, resolve);
    });
  }

  /**
   * Moves the clock forward by `seconds` at once; timers passed fire in order at the next idle moment (at
   * the time they were due to, for ordering, but after the jump for the clock).
   */
  advance(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 0)
      throw new RangeError(`advance needs seconds >= 0, got ${seconds}`);
    this.nowMs += seconds * 1000;
  }

  /** The seeded random number of the zone (`Math.random` inside it). */
  random(): number {
    return this.randomFn();
  }

  /** Runs `fire` after `ms` simulated milliseconds; returns a cancel function. */
  schedule(ms: number, fire: () => void, every?: number): Timer {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: Timer = {
      set: this.nowMs,
      until: this.nowMs + delay,
      seq: this.seq++,
      fire,
      cancelled: false,
    };
    if (every !== undefined) timer.every = Math.max(1, every);
    this.push(timer);
    this.activity++;
    return timer;
  }

  /** `Timeout.refresh()`: the timer again, its delay counted from now (returns the new timer). */
  reschedule(timer: Timer): Timer {
    timer.cancelled = true;
    const delay = timer.every ?? Math.max(0, timer.until - timer.set);
    return this.schedule(delay, timer.fire, timer.every);
  }

  /**
   * Runs `work` in simulated time and returns its result. `work` and everything it starts run inside the
   * zone; this loop advances the clock whenever they are all waiting on timers.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    installZoneGlobals();
    let settled = false;
    const result = zone.run(this, () => Promise.resolve().then(work));
    const done = result.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    void done;
    while (!settled) {
      await this.idle();
      if (settled) break;
      const next = this.pop();
      if (!next) {
        throw new SimulationStalled(
          `virtual time stalled at ${this.seconds().toFixed(3)} s: the run waits on something that is not a timer (real I/O inside the simulation?)`,
        );
      }
      if (this.timeScale > 0 && next.until > this.nowMs) {
        const pause = Math.min(MAX_PACED_PAUSE_MS, (next.until - this.nowMs) / this.timeScale);
        await new Promise<void>((resolve) => real.setTimeout(resolve, pause));
      }
      this.nowMs = Math.max(this.nowMs, next.until);
      if (next.every !== undefined) this.push({ ...next, until: this.nowMs + next.every, seq: this.seq++ });
      this.activity++;
      next.fire();
    }
    return result;
  }

  /**
   * Real I/O from inside the simulation (a request over a socket to an embedded server): `start` runs outside
   * the zone, so the client library's own timers are real ones, and time stands still until it settles —
   * however long it really takes, it takes no simulated time.
   */
  external<T>(start: () => Promise<T>): Promise<T> {
    return this.track(zone.exit(start));
  }

  /** Time stands still until `work` (real I/O) settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.busy++;
    this.activity++;
    const done = () => {
      this.busy--;
      this.activity++;
      this.busyEnded?.();
    };
    work.then(done, done);
    return work;
  }

  /** Until the zone's work is all waiting on timers: two quiet turns of the real event loop, no I/O in flight. */
  private async idle(): Promise<void> {
    let quiet = 0;
    while (quiet < 2) {
      if (this.busy > 0) {
        await new Promise<void>((resolve) => {
          this.busyEnded = resolve;
        });
        this.busyEnded = undefined;
        quiet = 0;
        continue;
      }
      const before = this.activity;
      await new Promise<void>((resolve) => real.setImmediate(resolve));
      quiet = this.activity === before && this.pendingImmediates === 0 && this.busy === 0 ? quiet + 1 : 0;
    }
  }

  /** `setImmediate` inside the zone: counted, so the run is not idle while one is pending. */
  immediate(fn: () => void): NodeJS.Immediate {
    this.pendingImmediates++;
    this.activity++;
    return real.setImmediate(() => {
      this.pendingImmediates--;
      this.activity++;
      fn();
    });
  }

  private push(timer: Timer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  /** The earliest timer not cancelled. */
  private pop(): Timer | undefined {
    const heap = this.heap;
    while (heap.length > 0) {
      const top = heap[0] as Timer;
      const last = heap.pop() as Timer;
      if (heap.length > 0) {
        heap[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && before(heap[l] as Timer, heap[m] as Timer)) m = l;
          if (r < heap.length && before(heap[r] as Timer, heap[m] as Timer)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
          i = m;
        }
      }
      if (!top.cancelled) return top;
    }
    return undefined;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.until < b.until || (a.until === b.until && a.seq < b.seq);
}

let installed = false;

/**
 * Replaces the timer, time and random globals with versions that defer to the virtual clock inside a zone
 * and to the real ones everywhere else. Installed once, on first use.
 */
function installZoneGlobals(): void {
  if (installed) return;
  installed = true;
  const g = globalThis as unknown as Record<string, unknown>;
  const timer = (every: boolean) =>
    function (this: unknown, fn: unknown, ms?: number, ...args: unknown[]) {
      const clock = zone.getStore();
      if (!clock || typeof fn !== 'function') {
        const original = every ? real.setInterval : real.setTimeout;
        return (original as (...a: unknown[]) => unknown)(fn, ms, ...args);
      }
      // The callback runs in the async context it was scheduled from (the handler's, the interpreter's).
      const bound = AsyncResource.bind(() => (fn as (...a: unknown[]) => void)(...args));
      const t = clock.schedule(Number(ms ?? 0), bound, every ? Math.max(1, Number(ms ?? 0)) : undefined);
      return new VirtualTimeout(t, clock);
    };
  const clear = (original: (h: never) => void) => (handle: unknown) => {
    if (handle instanceof VirtualTimeout) handle.close();
    else original(handle as never);
  };
  g.setTimeout = timer(false);
  g.setInterval = timer(true);
  g.clearTimeout = clear(real.clearTimeout as (h: never) => void);
  g.clearInterval = clear(real.clearInterval as (h: never) => void);
  g.setImmediate = function (this: unknown, fn: (...a: unknown[]) => void, ...args: unknown[]) {
    const clock = zone.getStore();
    if (!clock) return real.setImmediate(fn, ...args);
    return clock.immediate(() => fn(...args));
  };
  Date.now = () => {
    const clock = zone.getStore();
    return clock ? clock.now() : real.dateNow();
  };
  const origin = real.performanceNow();
  performance.now = () => {
    const clock = zone.getStore();
    return clock ? origin + clock.seconds() * 1000 : real.performanceNow();
  };
  Math.random = () => {
    const clock = zone.getStore();
    return clock ? clock.random() : real.random();
  };
}
