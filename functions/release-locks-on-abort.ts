import { ExecutionEndedEventSchema, lockEnv, releaseLocksOfEndedExecution } from '../lib/lock/index.ts';
import { defineStep } from './commons/handler.ts';

/**
 * EventBridge rule target: an execution ended ABORTED, TIMED_OUT or FAILED without reaching its own
 * release; release the locks it (or a child execution it started) still holds.
 */
export const handler = defineStep('release-locks-on-abort', ExecutionEndedEventSchema, (event, env) =>
  releaseLocksOfEndedExecution(event, lockEnv(env)),
);
