/**
 * Runs `fn` over `items` with at most `limit` calls in flight, keeping result order.
 * Rejects with the first error after the calls already started have settled (nothing is left running).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        if (!failed) firstError = error;
        failed = true;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  if (failed) throw firstError;
  return results;
}

/**
 * Like `mapLimit`, but never stops early: every item is tried and each outcome is reported, so a caller
 * can say exactly which resources failed (restore must not drop anything silently). With `stopAfter`, an
 * error it accepts (Databricks throttling that outlasted the client's retries) stops starting new items:
 * those are reported `skipped`, to be tried again at the next check rather than thrown at a host that is
 * refusing calls anyway.
 */
export async function settleLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  options: { stopAfter?: (error: unknown) => boolean } = {},
): Promise<Settled<R>[]> {
  let stopped = false;
  return mapLimit(items, limit, async (item, index): Promise<Settled<R>> => {
    if (stopped) return { ok: false, error: undefined, skipped: true };
    try {
      return { ok: true as const, value: await fn(item, index) };
    } catch (error) {
      if (options.stopAfter?.(error)) stopped = true;
      return { ok: false as const, error };
    }
  });
}

/** One item's outcome in `settleLimit`: its value, its error, or `skipped` (never started). */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown; skipped?: boolean };

/** How an attempt admitted by an `AimdLimiter` ended. */
export type AttemptOutcome = 'success' | 'throttled' | 'neutral';

/** A slot held by one request in flight; give it back exactly once with how the request ended. */
export interface Permit {
  /**
   * Gives the slot back. `throttled` halves the window and paces the host (once per round), and closes the
   * request's route for `waitMs` (the `Retry-After`).
   */
  release(outcome: AttemptOutcome, waitMs?: number): void;
}

/** The limiter's current state (logs, tests). */
export interface LimiterState {
  /** Requests allowed in flight now (floor ≤ limit ≤ ceiling). */
  limit: number;
  inFlight: number;
  queued: number;
  /** Requests started per second at most (`Infinity`: not paced beyond the fixed pacing). */
  rate: number;
  /** Routes closed by a 429 (until their `Retry-After` has passed, or their probe is answered): until when. */
  closed: Record<string, number>;
}

export interface AimdOptions {
  /** Most requests in flight (the configured API concurrency); the window never grows past it. */
  ceiling: number;
  /** Fewest requests in flight the window shrinks to (default 1). */
  floor?: number;
  /** Least run-clock ms between two request starts (default 0: no fixed pacing). */
  minIntervalMs?: number;
  /** Least run-clock ms between two starts of `write` requests (default 0). */
  minWriteIntervalMs?: number;
  /** The run's clock (`now`, `sleep`): the real one in AWS, the simulated one in local mode. */
  clock: () => { now(): number; sleep(ms: number): Promise<void> };
}

/** What a request asks the limiter for. */
export interface AcquireOptions {
  /** Mutating requests are paced apart (`minWriteIntervalMs`). */
  write?: boolean;
  /** Its route (`POST /api/2.1/clusters/start`): a 429's `Retry-After` closes the route it came from. */
  route?: string;
  /** Run-clock epoch ms: past it the request gives up waiting (`acquire` resolves `undefined`). */
  giveUpAt?: number;
}

/** A request waiting for its turn. */
interface Waiter {
  write: boolean;
  route: string;
  giveUpAt: number | undefined;
  admit: (permit: Permit | undefined) => void;
}

/**
 * A route a 429 closed. Until `until` nothing goes out on it; past that time it is half open: one request
 * goes (a probe) and the others on the route wait for its answer, so a window still closed costs one
 * refusal, not one per request waiting.
 */
interface Closed {
  until: number;
  /** The probe is in flight. */
  probing: boolean;
}

/** The rate past which the host is no longer paced (requests per second). */
const UNPACED_RATE = 50;
/** Seconds' worth of successes at the host's pace before it grows by one request per second. */
const RATE_PROBE_SECONDS = 5;

/**
 * Adaptive concurrency for one host, AIMD as TCP does it: a 429 halves the number of requests allowed in
 * flight (once per round: answers to requests sent before the last cut do not cut again), and every run of
 * `limit` successes in a row adds one back, never past the ceiling nor under the floor.
 *
 * Databricks limits requests per second (per workspace, and per endpoint), which even one request in
 * flight can exceed, so a 429 also paces the host at the rate it just accepted: the requests started in the
 * last second but the refused one (never faster than before; a request alone in its second says nothing
 * about a rate). Every `RATE_PROBE_SECONDS` worth of successes adds one request per second back, and past
 * `UNPACED_RATE` pacing ends.
 *
 * A 429 also closes its route — method and endpoint, ids as placeholders — until the `Retry-After` has
 * passed, so no request goes out into a window Databricks would refuse anyway; then one request probes the
 * route before the others follow (its refusal closes the route again without slowing the host down once
 * more: the route was known to be closed). Requests to other routes go on meanwhile, so one throttled
 * endpoint does not hold up the others. Requests wait their turn in arrival order, one whose route is
 * closed letting the ones behind it pass; optional fixed pacing (`minIntervalMs`, `minWriteIntervalMs`)
 * spaces all starts.
 */
export class AimdLimiter {
  private limit: number;
  private readonly ceiling: number;
  private readonly floor: number;
  private inFlight = 0;
  /** Successes in a row since the window or the pace last changed. */
  private streak = 0;
  private round = 0;
  /** Requests started per second at most (`Infinity`: not paced beyond the fixed pacing). */
  private rate = Number.POSITIVE_INFINITY;
  private lastStart = Number.NEGATIVE_INFINITY;
  private lastWrite = Number.NEGATIVE_INFINITY;
  /** Start times of the last second (the rate the host was seeing when it said 429). */
  private readonly recent: number[] = [];
  private readonly closed = new Map<string, Closed>();
  private readonly queue: Waiter[] = [];
  private wakeAt: number | undefined;

  constructor(private readonly options: AimdOptions) {
    this.ceiling = Math.max(1, Math.floor(options.ceiling));
    this.floor = Math.min(this.ceiling, Math.max(1, Math.floor(options.floor ?? 1)));
    this.limit = this.ceiling;
  }

  state(): LimiterState {
    const closed: Record<string, number> = {};
    for (const [route, c] of this.closed) closed[route] = c.until;
    return {
      limit: this.limit,
      rate: this.rate,
      inFlight: this.inFlight,
      queued: this.queue.length,
      closed,
    };
  }

  /**
   * What this host has been found to allow, to hand on to a later client (`undefined`: nothing learnt, the
   * window is at its ceiling and no pace is kept).
   */
  pace(): { limit: number; rate?: number } | undefined {
    const paced = Number.isFinite(this.rate);
    if (!paced && this.limit >= this.ceiling) return undefined;
    return { limit: this.limit, ...(paced ? { rate: this.rate } : {}) };
  }

  /**
   * Starts from what an earlier client learnt (`pace()`), before any request: the window within floor and
   * ceiling, the pace as given. Both grow back with successes as usual.
   */
  seed(pace: { limit: number; rate?: number | undefined }): void {
    this.limit = Math.min(this.ceiling, Math.max(this.floor, Math.floor(pace.limit)));
    // A learnt pace is never under 1 request per second (see `throttled`): nothing slower is taken.
    if (pace.rate !== undefined && pace.rate >= 1 && pace.rate < UNPACED_RATE) this.rate = pace.rate;
  }

  /**
   * Waits for a slot (and for the request's route to be open and the pacing), in arrival order. Resolves
   * `undefined` as soon as the request could not start by its `giveUpAt`.
   */
  acquire(options: AcquireOptions = {}): Promise<Permit | undefined> {
    return new Promise((admit) => {
      this.queue.push({
        write: options.write === true,
        route: options.route ?? '',
        giveUpAt: options.giveUpAt,
        admit,
      });
      this.pump();
    });
  }

  private pump(): void {
    const now = this.options.clock().now();
    let wake = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.queue.length && this.inFlight < this.limit; ) {
      const waiter = this.queue[i] as Waiter;
      const closed = this.closed.get(waiter.route);
      // A half-open route whose probe is out: wait for its answer (a release pumps again).
      if (closed?.probing) {
        i++;
        continue;
      }
      const readyAt = Math.max(
        this.lastStart + Math.max(this.options.minIntervalMs ?? 0, 1000 / this.rate),
        waiter.write ? this.lastWrite + (this.options.minWriteIntervalMs ?? 0) : 0,
        closed?.until ?? 0,
      );
      if (waiter.giveUpAt !== undefined && readyAt > waiter.giveUpAt) {
        this.queue.splice(i, 1);
        waiter.admit(undefined);
        continue;
      }
      if (readyAt > now) {
        wake = Math.min(wake, readyAt);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.inFlight++;
      this.lastStart = now;
      if (waiter.write) this.lastWrite = now;
      this.recent.push(now);
      while ((this.recent[0] ?? now) <= now - 1000) this.recent.shift();
      if (closed) closed.probing = true;
      waiter.admit(this.permit(this.round, waiter.route, closed !== undefined));
    }
    if (wake < Number.POSITIVE_INFINITY) this.wakeUpAt(wake);
  }

  /** One timer at a time, at the earliest moment something may start. */
  private wakeUpAt(at: number): void {
    if (this.wakeAt !== undefined && this.wakeAt <= at && this.wakeAt > this.options.clock().now()) return;
    this.wakeAt = at;
    const clock = this.options.clock();
    void clock.sleep(Math.max(1, Math.ceil(at - clock.now()))).then(() => {
      if (this.wakeAt === at) this.wakeAt = undefined;
      this.pump();
    });
  }

  private permit(round: number, route: string, probe: boolean): Permit {
    let released = false;
    return {
      release: (outcome, waitMs) => {
        if (released) return;
        released = true;
        this.inFlight--;
        if (outcome === 'throttled') this.throttled(round, route, probe, waitMs ?? 0);
        else {
          // Any other answer opens the route again (a probe that got through, or one that failed otherwise).
          this.closed.delete(route);
          if (outcome === 'success') this.succeeded();
        }
        this.pump();
      },
    };
  }

  private throttled(round: number, route: string, probe: boolean, waitMs: number): void {
    const now = this.options.clock().now();
    this.streak = 0;
    const until = Math.max(this.closed.get(route)?.until ?? 0, now + waitMs);
    this.closed.set(route, { until, probing: false });
    // A probe refused says the route is still closed, nothing new about the host.
    if (probe) return;
    // The host took the requests of its last second but this one: that is its pace from now on.
    const seen = this.recent.filter((t) => t > now - 1000).length;
    if (seen >= 2) this.rate = Math.min(this.rate, seen - 1);
    // Answers to requests sent before the last cut say nothing new about the window: one cut per round.
    if (round !== this.round) return;
    this.round++;
    this.limit = Math.max(this.floor, Math.floor(this.limit / 2));
  }

  private succeeded(): void {
    this.streak++;
    if (Number.isFinite(this.rate)) {
      // Probe slowly: one more request per second after RATE_PROBE_SECONDS' worth of successes.
      if (this.streak < Math.ceil(this.rate) * RATE_PROBE_SECONDS) return;
      this.streak = 0;
      this.rate += 1;
      if (this.rate >= UNPACED_RATE) this.rate = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.limit >= this.ceiling) {
      this.streak = 0;
      return;
    }
    if (this.streak >= this.limit) {
      this.limit++;
      this.streak = 0;
    }
  }
}
