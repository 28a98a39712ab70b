import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { z } from 'zod';
import { type AwsClients, awsClients } from '../../lib/aws/clients.ts';
import { type Clock, clock } from '../../lib/clock.ts';
import { type Databricks, databricksFor } from '../../lib/databricks/index.ts';
import { logger } from '../../lib/log.ts';
import { loadSettings, type Settings } from '../../lib/settings.ts';
import { parseInput } from '../../lib/validate.ts';

/** What a step gets besides its input: settings and the shared clients, all created once per container. */
export interface StepEnv {
  settings: Settings;
  aws: AwsClients;
  /** The Databricks client (created lazily: steps that never call Databricks never read the secret). */
  databricks(): Databricks;
  clock: Clock;
}

/**
 * Defines a Lambda step: parse the input with `schema` (a bad input raises `InvalidInput` naming the
 * field), run `step`, return its small JSON result. Errors keep their stable `name`, which the state
 * machine's Retry/Catch match on; they are logged by name and message only (never a secret).
 */
export function defineStep<S extends z.ZodType, R>(
  stepName: string,
  schema: S,
  step: (input: z.infer<S>, env: StepEnv) => Promise<R>,
) {
  const run = async (event: unknown): Promise<R> => {
    const settings = loadSettings();
    const input = parseInput(schema, event, `${stepName} input`);
    const env: StepEnv = {
      settings,
      aws: awsClients(),
      databricks: () => databricksFor(settings),
      clock: clock(),
    };
    return step(input, env);
  };
  return middy(run)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        const error = request.error as { name?: string; message?: string } | null;
        logger.error(`${stepName} failed`, { errorName: error?.name, errorMessage: error?.message });
      },
    });
}
