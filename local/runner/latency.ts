import type { SdkClient } from '../../lib/aws/clients.ts';
import type { EmulatorClock } from '../clock.ts';
import { drawBetween } from '../emulator/random.ts';
import { assertNotFrozen } from './lambda.ts';

/**
 * Simulated round-trip time of an AWS API call (KMS, Secrets Manager, S3 from a Lambda in the same region):
 * drawn per call in [10, 40] ms from the scenario's seed. Databricks calls have their own model
 * (`timings.apiLatencyMs`, drawn by the emulator).
 */
export const AWS_LATENCY_MS: readonly [number, number] = [10, 40];

/**
 * `client` with each call taking its simulated latency before it reaches the stand-in, and failing when the
 * calling handler's invocation has timed out (a frozen Lambda sends nothing more).
 */
export function withLatency(
  client: SdkClient,
  service: string,
  clock: EmulatorClock,
  seed: number,
): SdkClient {
  const roundTrip = roundTrips(service, seed);
  return {
    async send(command: unknown) {
      const ms = roundTrip();
      await clock.sleep(ms);
      return client.send(command);
    },
  };
}

/**
 * A client that reaches an embedded server over a real socket (dynalite), made deterministic for virtual
 * time: calls go one at a time in the order they were made, each takes its simulated round trip, and the
 * clock stands still while the socket works (`VirtualClock.external`: the SDK runs with real timers), so real I/O time never becomes simulated
 * time and the answer order never depends on the machine.
 */
export function serialized(
  client: SdkClient,
  service: string,
  clock: EmulatorClock & { external<T>(start: () => Promise<T>): Promise<T> },
  seed: number,
): SdkClient {
  const roundTrip = roundTrips(service, seed);
  let queue: Promise<unknown> = Promise.resolve();
  return {
    send(command: unknown) {
      const ms = roundTrip();
      const turn = queue.then(async () => {
        await clock.sleep(ms);
        return clock.external(() => client.send(command));
      });
      queue = turn.catch(() => undefined);
      return turn;
    },
  };
}

/**
 * The next call's simulated round trip for `service` (the n-th draw of the seed), after checking the calling
 * handler's invocation is not frozen.
 */
function roundTrips(service: string, seed: number): () => number {
  let calls = 0;
  return () => {
    assertNotFrozen(`an AWS ${service} call`);
    return drawBetween(AWS_LATENCY_MS, seed, `aws:${service}:${calls++}`);
  };
}
