import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { type Clock, clock } from '../../lib/clock.ts';
import { deadlineAfter, withDeadline } from '../../lib/deadline.ts';
import { fitForStepFunctions, TransientError } from '../../lib/errors.ts';
import { asInvocation, learntPace, newestPace } from '../../lib/invocation.ts';
import { logger } from '../../lib/log.ts';
import { loadSettings, type Settings } from '../../lib/settings.ts';
import { parseInput } from '../../lib/validate.ts';
import type * as z from '../../lib/zod.ts';

/**
 * What a step gets besides its input: settings, the run's clock and the invocation's deadline. The SDK and
 * Databricks clients are not offered here: each step imports the ones it sends commands to
 * (`kmsClient()` from lib/aws/kms.ts, `databricksFor(settings)` from lib/databricks/index.ts, …), so that its
 * bundle holds only those (DESIGN §9).
 */
export interface StepEnv {
  settings: Settings;
  clock: Clock;
  /**
   * REAL epoch ms (`Date.now()`, not `clock`) by which this invocation must return: the Lambda's remaining
   * time less a safety margin (`lib/deadline.ts`). `undefined` when the caller gave no Lambda context. The
   * Databricks client already honours it; a step that loops on its own should check it too.
   */
  deadline?: number;
}

/**
 * Defines a Lambda step: parse the input with `schema` (a bad input raises `InvalidInput` naming the
 * field), run `step` within the invocation's time budget, return its small JSON result. Errors keep their
 * stable `name`, which the state machine's Retry/Catch match on, with their message capped so that the
 * Cause fits Step Functions' 32,768 characters; they are logged by name and message only (never a secret).
 * The handler carries its `stepName` and `schema` (the fuzz test throws arbitrary JSON at every schema).
 */
export function defineStep<S extends z.core.$ZodType, R>(
  stepName: string,
  schema: S,
  step: (input: z.infer<S>, env: StepEnv) => Promise<R>,
) {
  const run = async (event: unknown, context?: Partial<Context>): Promise<R> => {
    const deadline = invocationDeadline(context);
    const settings = loadSettings();
    const input = parseInput(schema, event, `${stepName} input`);
    const env: StepEnv = {
      settings,
      clock: clock(),
      ...(deadline === undefined ? {} : { deadline }),
    };
    // The request pace an earlier step learnt rides along in the step results (lib/invocation.ts).
    const container = { functionName: context?.functionName, logStreamName: context?.logStreamName };
    return asInvocation({ ...container, pace: newestPace(event) }, () =>
      withDeadline(deadline, async () => withPace(await step(input, env), env.clock)),
    );
  };
  // Should the step itself overrun (slow AWS calls, a bug), middy answers 250 ms before Lambda would kill
  // the invocation (the Databricks client gives up earlier still, see lib/deadline.ts). middy's default
  // `TimeoutError` is in no Retry list, while the kill it pre-empts would have been retried
  // (States.Timeout): answer with the retryable `TransientError` instead.
  const handler = middy(run, {
    timeoutEarlyInMillis: 250,
    timeoutEarlyResponse: () => {
      throw new TransientError(
        `${stepName} ran out of its Lambda time budget before it finished; the state machine retries the step`,
      );
    },
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        // Whatever was thrown (a product error, an SDK error with a huge message, a TypeError from a bug),
        // its name stays and its message and trace are cut to fit the execution's error Cause.
        const error = fitForStepFunctions(request.error);
        request.error = error;
        logger.error(`${stepName} failed`, { errorName: error.name, errorMessage: error.message });
      },
    });
  return Object.assign(handler, { stepName, schema });
}

/** The result, with the request pace Databricks allowed (`databricksPace`) when a host is paced. */
function withPace<R>(result: R, runClock: Clock): R {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return result;
  const pace = learntPace(runClock.now());
  return pace ? { ...result, databricksPace: pace } : result;
}

/** The real-time deadline of this invocation, from the Lambda context (none without one: tests, scripts). */
function invocationDeadline(context: Partial<Context> | undefined): number | undefined {
  if (typeof context?.getRemainingTimeInMillis !== 'function') return undefined;
  const remaining = context.getRemainingTimeInMillis();
  return Number.isFinite(remaining) ? deadlineAfter(remaining) : undefined;
}
