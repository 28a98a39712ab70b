import { giveUpWorkspaceLock, lockEnv, ReleaseLockInputSchema } from '../lib/lock/index.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Release the workspace's lock if this execution still holds it, on every path once compensation is done;
 * passes the workspace's `result` through as its output.
 */
export const handler = defineStep('release-workspace-lock', ReleaseLockInputSchema, (input, env) =>
  giveUpWorkspaceLock(input, lockEnv(env)),
);
