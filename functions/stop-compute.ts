import { computeDeps, StopItemSchema, stopCompute } from '../lib/compute/index.ts';
import { holdLease } from '../lib/lock/index.ts';
import { afterStopIssued } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Snapshot, then stop the workspace's compute in the reference's order; stored under `item.compute`, with
 * `nextCheckSeconds`, the wait before the first check (lib/poll.ts).
 */
export const handler = defineStep('stop-compute', StopItemSchema, async (item, env) => {
  await holdLease(item, env);
  const result = await stopCompute(item, computeDeps(item, env));
  return { ...result, nextCheckSeconds: afterStopIssued(result, env.settings.lockLeaseMinutes) };
});
