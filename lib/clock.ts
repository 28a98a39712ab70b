/**
 * Time as the product sees it. In AWS this is wall-clock time; the local runner installs the
 * emulator's scaled clock so deadlines and retry pauses run in simulated seconds.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Pause for `ms` milliseconds of this clock's time. */
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

let current: Clock = systemClock;

/** The clock in use. */
export function clock(): Clock {
  return current;
}

/** Replace the clock (local runner, tests). Returns the previous one so callers can restore it. */
export function setClock(next: Clock): Clock {
  const previous = current;
  current = next;
  return previous;
}
