import { checkComputeStopped, computeDeps, StopCheckItemSchema } from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { afterStopCheck } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One turn of the stop loop (its STOPPED answer, on which the PATCH follows, rests on a look at every
 * kind); stored under `item.computeCheck`. Once the
 * workspace runs on the new key (or, in recovery, has settled with a storage key applied) it guards the
 * storage wait instead: whatever starts is stopped again and added to the restore set, and the result says
 * when the wait is over (DESIGN §6.5). `nextCheckSeconds` is the next Wait (lib/poll.ts).
 */
export const handler = defineStep('check-compute-stopped', StopCheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  const result = await checkComputeStopped(item, computeDeps(item, env), {
    guard: item.workspaceCheck?.status === 'RUNNING' || item.settled?.status === 'SETTLED',
  });
  const nextCheckSeconds = afterStopCheck({
    result,
    drainDeadline: item.compute.drainDeadline,
    drainTimeoutMinutes: item.drainTimeoutMinutes,
    stopTimeoutMinutes: env.settings.computeStopTimeoutMinutes,
    now: env.clock.now(),
    leaseMinutes: env.settings.lockLeaseMinutes,
  });
  return { ...result, nextCheckSeconds };
});
