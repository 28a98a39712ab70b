import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import type { EmulatorClock } from '../clock.ts';

/**
 * Lambda as the state machine meets it, on the simulated clock: each function's timeout from
 * `serverless.yml`, a context whose remaining time counts down in simulated time, a handler that overruns
 * its timeout failing as `Sandbox.Timedout` (and frozen: what it still tries to send fails), and errors
 * shaped as the Lambda runtime delivers them to Step Functions — `Error` is the error's name, `Cause` the
 * JSON string `{"errorType","errorMessage","trace"}`.
 */

const SERVERLESS_YML = fileURLToPath(new URL('../../serverless.yml', import.meta.url));

/** Serverless Framework's default when neither the function nor the provider sets a timeout. */
const DEFAULT_TIMEOUT_SECONDS = 6;

/**
 * The timeout in seconds of each function, by handler module (`functions/stop-compute.handler` →
 * `stop-compute`), read from `serverless.yml` (the `functions:` block: `handler:` and `timeout:` lines of
 * each function, else `provider.timeout`, else the framework's 6 s).
 */
export function lambdaTimeouts(text = readFileSync(SERVERLESS_YML, 'utf8')): Record<string, number> {
  const provider = /^provider:\n((?: {2}.*\n|\n)*)/m.exec(text)?.[1] ?? '';
  const providerTimeout = Number(/^ {2}timeout:\s*(\d+)/m.exec(provider)?.[1] ?? DEFAULT_TIMEOUT_SECONDS);
  const block = /^functions:\n((?: {2}.*\n|\n)*)/m.exec(text)?.[1] ?? '';
  const out: Record<string, number> = {};
  for (const fn of block.split(/^ {2}(?=\w)/m).slice(1)) {
    const handler = /^ {4}handler:\s*functions\/([\w-]+)\.handler/m.exec(fn)?.[1];
    if (!handler) continue;
    out[handler] = Number(/^ {4}timeout:\s*(\d+)/m.exec(fn)?.[1] ?? providerTimeout);
  }
  return out;
}

/** An invocation in flight; `frozen` once Lambda would have ended it. */
interface Invocation {
  frozen: boolean;
}
const invocations = new AsyncLocalStorage<Invocation>();

/** Thrown by a call a handler makes after its invocation timed out (the sandbox is frozen, then gone). */
export class SandboxFrozen extends Error {
  override name = 'SandboxFrozen';
}

/** Fails when the calling handler's invocation has already timed out. */
export function assertNotFrozen(what: string): void {
  if (invocations.getStore()?.frozen) {
    throw new SandboxFrozen(`${what} after the invocation timed out: Lambda froze the sandbox`);
  }
}

/** An error as Step Functions receives it from a Lambda Task: name = errorType, message = the JSON Cause. */
export class LambdaTaskError extends Error {}

/** The Cause Step Functions records for an error a handler threw: the runtime's JSON error object. */
export function lambdaCause(error: unknown): string {
  const e = error instanceof Error ? error : new Error(String(error));
  const trace = (e.stack ?? `${e.name}: ${e.message}`).split('\n');
  return JSON.stringify({ errorType: e.name, errorMessage: e.message, trace });
}

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/**
 * The execution environments (containers) of a run's functions, as Lambda keeps them: an invocation gets
 * an idle container of its function (the first in creation order: Lambda does not say which warm one it
 * picks, and a fixed choice keeps runs deterministic), or a new one while all are busy — concurrent
 * invocations of one function never share a container. A container that timed out is not used again (Lambda resets the
 * environment after a timeout). Each container writes its own log stream, the `context.logStreamName`
 * the product keys what it keeps between invocations by (lib/invocation.ts).
 */
export class LambdaContainers {
  private readonly pools = new Map<string, Array<{ stream: string; busy: boolean; gone: boolean }>>();
  private created = 0;

  /** Takes a container of `functionName`: its log stream, and how to hand it back. */
  acquire(functionName: string): { stream: string; release: (reusable: boolean) => void } {
    const pool = this.pools.get(functionName) ?? [];
    this.pools.set(functionName, pool);
    let container = pool.find((c) => !c.busy && !c.gone);
    if (!container) {
      this.created += 1;
      container = {
        stream: `local/[$LATEST]${String(this.created).padStart(8, '0')}`,
        busy: false,
        gone: false,
      };
      pool.push(container);
    }
    const taken = container;
    taken.busy = true;
    return {
      stream: taken.stream,
      release: (reusable) => {
        taken.busy = false;
        taken.gone ||= !reusable;
      },
    };
  }

  /** Containers created so far (cold starts), all functions together. */
  get coldStarts(): number {
    return this.created;
  }
}

/**
 * Invokes `handler` as Lambda would, with `timeoutSeconds` of simulated time: resolves with its answer, or
 * rejects with a `LambdaTaskError` (its name the error's, its message the runtime's JSON Cause), or with
 * `Sandbox.Timedout` when the simulated timeout passes first.
 */
export async function invokeLambda(
  handler: Handler,
  event: unknown,
  options: {
    functionName: string;
    timeoutSeconds: number;
    clock: EmulatorClock;
    region: string;
    account: string;
    /** The run's containers; without it, every invocation gets a container of its own. */
    containers?: LambdaContainers;
  },
): Promise<unknown> {
  const { clock, timeoutSeconds } = options;
  const deadline = clock.now() + timeoutSeconds * 1000;
  const requestId = randomUUID();
  const container = (options.containers ?? new LambdaContainers()).acquire(options.functionName);
  let reusable = true;
  const context: Context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${options.region}:${options.account}:function:${options.functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: container.stream,
    getRemainingTimeInMillis: () => Math.max(0, deadline - clock.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  const invocation: Invocation = { frozen: false };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      invocation.frozen = true;
      reusable = false;
      const error = new LambdaTaskError(
        JSON.stringify({
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${requestId} Error: Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
        }),
      );
      error.name = 'Sandbox.Timedout';
      reject(error);
    }, timeoutSeconds * 1000);
  });
  try {
    return await Promise.race([invocations.run(invocation, () => handler(event, context)), timedOut]);
  } catch (error) {
    if (error instanceof LambdaTaskError) throw error;
    const e = error instanceof Error ? error : new Error(String(error));
    const shaped = new LambdaTaskError(lambdaCause(e));
    shaped.name = e.name;
    throw shaped;
  } finally {
    clearTimeout(timer);
    container.release(reusable);
  }
}
