import { computeDeps, RestoreItemSchema, restoreCompute } from '../lib/compute/index.ts';
import { afterRestoreIssued } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Bring back exactly what ran (also the compensation step after a failure); stored under `item.restore`,
 * with `nextCheckSeconds`, the wait before the first check (lib/poll.ts: starts take minutes).
 */
export const handler = defineStep('restore-compute', RestoreItemSchema, async (item, env) => {
  const result = await restoreCompute(item, computeDeps(item, env));
  return { ...result, nextCheckSeconds: afterRestoreIssued(result, env.settings.lockLeaseMinutes) };
});
