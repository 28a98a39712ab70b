import {
  checkComputeStopped,
  computeDeps,
  notKeptStopped,
  StopCheckItemSchema,
} from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { afterStopCheck } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One turn of the stop loop (its STOPPED answer, on which the PATCH follows, rests on a look at every
 * kind); stored under `item.computeCheck`. Once the
 * workspace runs on the new key (or, in recovery, has settled with a storage key applied) it guards the
 * storage wait instead: whatever starts is stopped again and added to the restore set, and the result says
 * when the wait is over (DESIGN §6.5); what could not be stopped again by then fails it with
 * `ComputeNotKeptStopped`. `nextCheckSeconds` is the next Wait (lib/poll.ts).
 */
export const handler = defineStep('check-compute-stopped', StopCheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  const recovering = item.settled?.status === 'SETTLED';
  const result = await checkComputeStopped(item, computeDeps(item, env), {
    guard: item.workspaceCheck?.status === 'RUNNING' || recovering,
  });
  // The storage wait is over with compute someone started still running, its stop calls failing: named, so
  // the alarm fires (the recovery path restores compute as usual). Recovery's own guard does not: its
  // workspace has failed already, and that error is the one to report.
  if (result.storageWaitOver && result.unstoppable && !recovering) {
    throw notKeptStopped(item.workspace, 'the storage wait', result.unstoppable);
  }
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
