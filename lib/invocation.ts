import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the current Lambda invocation knows beyond its input: the container it runs in, and the request
 * pace Databricks allowed per host.
 *
 * - **The container** (`context.functionName` and `context.logStreamName`: each execution environment
 *   writes its own log stream) keys what a container keeps between invocations: the Databricks clients,
 *   with their OAuth tokens and each host's adaptive request window (`databricksFor`), and the credentials
 *   read from Secrets Manager. In AWS a process is one container, so this changes nothing there; where one
 *   process runs every function (the local runner), each emulated container keeps its own — concurrent
 *   invocations (several workspaces at once) run in separate containers, and the simulation must not let
 *   one step profit from what another container learnt.
 * - **The pace** a throttled host allowed (requests in flight, requests per second) is learnt again from
 *   429s by every new container. So a step hands what its client learnt on in its result
 *   (`databricksPace`, added by `defineStep`), and the next step's client starts a host it has not talked
 *   to yet at that pace (`pacingHint`), instead of learning the limit again from refusals.
 *
 * An `AsyncLocalStorage`, like the invocation's deadline (lib/deadline.ts): the local runner runs several
 * handlers at once in one process.
 */

/** A host's learnt pace: requests allowed in flight, and requests per second (absent: not paced). */
export interface HostPace {
  limit: number;
  rate?: number;
}

/** What a step result carries as `databricksPace`: when it was learnt (run-clock ms), per host. */
export interface LearntPace {
  at: number;
  hosts: Record<string, HostPace>;
}

interface Invocation {
  /** The function and its container's log stream. */
  container: string;
  hints: Record<string, HostPace>;
  learnt: Map<string, HostPace>;
  /** This invocation called Databricks (only then has its result anything to say about the pace). */
  called: boolean;
}

const current = new AsyncLocalStorage<Invocation>();

/**
 * Runs `fn` as an invocation of `functionName` in the container writing `logStreamName`, whose input
 * carried `pace` (see `newestPace`).
 */
export function asInvocation<T>(
  options: {
    functionName?: string | undefined;
    logStreamName?: string | undefined;
    pace?: LearntPace | undefined;
  },
  fn: () => T,
): T {
  const hints = options.pace?.hosts ?? {};
  return current.run(
    {
      container: `${options.functionName ?? ''}${options.logStreamName ? `|${options.logStreamName}` : ''}`,
      hints,
      learnt: new Map(Object.entries(hints)),
      called: false,
    },
    fn,
  );
}

/**
 * The current invocation's container (function and log stream); `''` outside any invocation (a test
 * calling a step directly).
 */
export function currentContainer(): string {
  return current.getStore()?.container ?? '';
}

/** The pace an earlier step learnt for `host`, to start a new client's window at. */
export function pacingHint(host: string): HostPace | undefined {
  return current.getStore()?.hints[host];
}

/** Records `host`'s pace now (`undefined`: no longer paced). */
export function notePace(host: string, pace: HostPace | undefined): void {
  const invocation = current.getStore();
  if (!invocation) return;
  invocation.called = true;
  if (pace) invocation.learnt.set(host, pace);
  else invocation.learnt.delete(host);
}

/**
 * The pace to hand on, from an invocation that called Databricks: every host still paced (learnt here, or
 * handed in and not contradicted) — also when none is any more but some were handed in, so that it
 * outdates the older results' (the newest one is taken). A step that made no Databricks call adds nothing
 * (the older results still say it), which keeps results such as the lock release's compact one as they are.
 */
export function learntPace(now: number): LearntPace | undefined {
  const invocation = current.getStore();
  const handed = Object.keys(invocation?.hints ?? {}).length > 0;
  if (!invocation?.called || (invocation.learnt.size === 0 && !handed)) return undefined;
  return { at: now, hosts: Object.fromEntries(invocation.learnt) };
}

/** The newest `databricksPace` among the step results a state carries (its top-level fields). */
export function newestPace(event: unknown): LearntPace | undefined {
  if (!isRecord(event)) return undefined;
  let newest: LearntPace | undefined;
  for (const value of [event, ...Object.values(event)]) {
    const pace = isRecord(value) ? value.databricksPace : undefined;
    if (isLearntPace(pace) && (newest === undefined || pace.at > newest.at)) newest = pace;
  }
  return newest;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isLearntPace(x: unknown): x is LearntPace {
  if (!isRecord(x) || typeof x.at !== 'number' || !isRecord(x.hosts)) return false;
  return Object.values(x.hosts).every(
    (h) =>
      isRecord(h) &&
      typeof h.limit === 'number' &&
      h.limit >= 1 &&
      (h.rate === undefined || (typeof h.rate === 'number' && h.rate >= 1)),
  );
}
