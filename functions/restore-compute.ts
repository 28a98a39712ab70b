import { computeDeps, RestoreItemSchema, restoreCompute } from '../lib/compute/index.ts';
import { holdLease } from '../lib/lock/index.ts';
import { afterRestoreIssued } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Bring back exactly what ran (also the compensation step after a failure); stored under `item.restore`,
 * with `nextCheckSeconds`, the wait before the first check (lib/poll.ts: starts take minutes). The lock is
 * renewed first: once another execution holds the workspace, nothing is started in the middle of its
 * rotation (`WorkspaceLockLost`; the report names what is still stopped, and the holder, which inherits
 * this execution's open snapshot when it stops compute, restores it).
 */
export const handler = defineStep('restore-compute', RestoreItemSchema, async (item, env) => {
  await holdLease(item, env);
  const result = await restoreCompute(item, computeDeps(item, env));
  return { ...result, nextCheckSeconds: afterRestoreIssued(result, env.settings.lockLeaseMinutes) };
});
