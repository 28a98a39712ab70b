import { checkComputeStopped, computeDeps, StopCheckItemSchema } from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One turn of the stop loop (and the re-check before the PATCH); stored under `item.computeCheck`. Once the
 * workspace runs on the new key (or, in recovery, has settled with a storage key applied) it guards the
 * storage wait instead: whatever starts is stopped again and added to the restore set, and the result says
 * when the wait is over (DESIGN §6.5).
 */
export const handler = defineStep('check-compute-stopped', StopCheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  return checkComputeStopped(item, computeDeps(item, env), {
    guard: item.workspaceCheck?.status === 'RUNNING' || item.settled?.status === 'SETTLED',
  });
});
