import { AcquireLockInputSchema, lockEnv, takeWorkspaceLock } from '../lib/lock/index.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Take the workspace's lock before anything is changed (DESIGN §6.6); stored under `item.lock`. Held by
 * another execution: `WorkspaceBusy`, or `{ busy: true, holder }` when the item says `waitForLock`.
 */
export const handler = defineStep('acquire-workspace-lock', AcquireLockInputSchema, (input, env) =>
  takeWorkspaceLock(input, lockEnv(env)),
);
