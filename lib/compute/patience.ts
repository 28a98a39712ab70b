import { clock } from '../clock.ts';
import { DatabricksApiError, isDeferred } from '../databricks/errors.ts';
import { realTimeLeftMs } from '../deadline.ts';
import { TransientError } from '../errors.ts';

/**
 * A failure that says nothing about the workspace or the snapshot, only that the service did not answer
 * now: S3 throttling or a 5xx (`TransientError`), Databricks throttling, a 5xx, a timeout or no answer
 * (`DatabricksThrottled`, `DatabricksUnavailable`, a call the invocation had no time left for). Anything
 * else (access denied, a corrupt snapshot) is not worth asking again.
 */
export function isTransient(error: unknown): boolean {
  return (
    error instanceof TransientError ||
    isDeferred(error) ||
    (error instanceof DatabricksApiError && error.retryable)
  );
}

/** How often, and how long, `patiently` asks again within one invocation. */
export const PATIENCE = { attempts: 6, firstWaitMs: 2_000, reserveMs: 10_000 };

/**
 * `call()`, made again after a transient failure (2 s, 4 s, … on the run's clock) up to `PATIENCE.attempts`
 * times, while the invocation has the time for the wait and `PATIENCE.reserveMs` more; the last error is
 * thrown. For what a step cannot leave to the state machine's Retry: a write whose loss would lose a fact
 * (what came back during the window), or the report of what is still stopped.
 */
export async function patiently<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const wait = PATIENCE.firstWaitMs * 2 ** (attempt - 1);
      const left = realTimeLeftMs();
      const noTime = left !== undefined && left < wait + PATIENCE.reserveMs;
      if (!isTransient(error) || attempt >= PATIENCE.attempts || noTime) throw error;
      await clock().sleep(wait);
    }
  }
}
