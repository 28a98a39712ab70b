/** How the client retries: attempts, backoff and the overall budget (all in the run clock's milliseconds). */
export interface RetryPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** First backoff ceiling; doubles per retry. */
  baseDelayMs: number;
  /** Backoff ceiling, also the longest `Retry-After` wait honoured before giving up. */
  maxDelayMs: number;
  /**
   * Total of the waits one call may make between attempts (not elapsed time); past it the call fails. Inside
   * a step the Lambda's remaining real time bounds it too (`lib/deadline.ts`, checked in `http.ts`).
   */
  maxRetryTimeMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  maxRetryTimeMs: 120_000,
};

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * a uniform draw in [0, min(cap, base · 2^(retry-1))]. `retry` counts from 1.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/**
 * The wait after a 429 that named its `Retry-After`: all of it (a retry sent earlier is refused again and
 * does not count), plus up to a tenth more of jitter, at most one base delay, so callers the same answer
 * stopped do not all come back in the same instant.
 */
export function throttleDelay(retryAfterMs: number, policy: RetryPolicy, random: () => number): number {
  return retryAfterMs + Math.floor(random() * Math.min(retryAfterMs / 10, policy.baseDelayMs));
}

/**
 * The wait a `Retry-After` header asks for, in ms: delta-seconds (`"2"`) or an HTTP date (relative to
 * `nowMs`). Undefined when absent or unreadable, so the caller falls back to backoff.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** Why an answer is worth another attempt, or `undefined` when it is not. */
export type RetryReason = 'throttled' | 'unavailable';

/**
 * Retry rules (reference §8): 429 always; 503 always (the service said "not now", nothing happened);
 * other 5xx, network errors and timeouts (status 0) only when repeating the call cannot do harm.
 */
export function retryReason(status: number, idempotent: boolean): RetryReason | undefined {
  if (status === 429) return 'throttled';
  // A network error or timeout may come after the request arrived: only an idempotent call is repeated
  // (a lost PATCH answer is reconciled by re-reading the workspace, never by sending it blindly again).
  if (status === 0) return idempotent ? 'unavailable' : undefined;
  if (status === 503) return 'unavailable';
  if (status >= 500 && idempotent) return 'unavailable';
  return undefined;
}
