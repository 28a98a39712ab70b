import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The time budget of the current Lambda invocation, in REAL time.
 *
 * Lambda kills an invocation at its timeout, whatever it is doing, and the state machine then only sees
 * `States.Timeout` (or `Lambda.Unknown`): no compensation detail, no named error. So `defineStep` records
 * when the invocation must have returned, and the Databricks client stops retrying (and shortens its
 * request timeouts) to return a named, retryable error before that.
 *
 * Two clocks, never mixed up: this deadline is wall-clock epoch milliseconds (`Date.now()`), because
 * Lambda's timeout is; retry waits and business deadlines use the run's clock (`lib/clock.ts`), which the
 * local runner replaces with a simulated one. Comparing a wait in run-clock milliseconds with the real time
 * left is conservative: under the simulated clock a wait takes less real time than it says.
 *
 * The deadline lives in an `AsyncLocalStorage`, not in a module variable: clients are cached per container
 * (`databricksFor`) and outlive the invocation, and the local runner runs several handlers at once in one
 * process, each with its own budget.
 */
const budget = new AsyncLocalStorage<number>();

/** What is kept back from the Lambda's remaining time for the step to return its error and log. */
const SAFETY_MARGIN = { share: 0.1, minMs: 500, maxMs: 5_000 };

/**
 * The real epoch-ms by which an invocation with `remainingMs` left must be done: the remaining time less a
 * safety margin of 10 % of it, at least 0.5 s and at most 5 s (a 3 s budget keeps 0.5 s, a 5-minute Lambda 5 s).
 */
export function deadlineAfter(remainingMs: number, nowMs = Date.now()): number {
  const remaining = Math.max(0, remainingMs);
  const margin = Math.min(
    SAFETY_MARGIN.maxMs,
    Math.max(SAFETY_MARGIN.minMs, remaining * SAFETY_MARGIN.share),
  );
  return nowMs + remaining - Math.min(remaining, margin);
}

/** Runs `fn` with `deadline` (real epoch ms; `undefined` = no budget) as the current invocation's budget. */
export function withDeadline<T>(deadline: number | undefined, fn: () => T): T {
  return deadline === undefined || !Number.isFinite(deadline) ? fn() : budget.run(deadline, fn);
}

/** The current invocation's deadline in real epoch ms, or `undefined` outside a step (tests, scripts). */
export function currentDeadline(): number | undefined {
  return budget.getStore();
}

/** Real milliseconds left before the current invocation's deadline (may be ≤ 0), or `undefined` without one. */
export function realTimeLeftMs(): number | undefined {
  const deadline = budget.getStore();
  return deadline === undefined ? undefined : deadline - Date.now();
}
