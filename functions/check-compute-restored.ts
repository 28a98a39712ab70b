import { checkComputeRestored, computeDeps, RestoreCheckItemSchema } from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { throttledRestoreMinutes } from '../lib/plan/history-budget.ts';
import { afterRestoreCheck } from '../lib/poll.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One turn of the restore loop: RESTORED, WAITING, or `ComputeNotRestored`; stored under `item.restoreCheck`,
 * with `nextCheckSeconds` (lib/poll.ts).
 */
export const handler = defineStep('check-compute-restored', RestoreCheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  const result = await checkComputeRestored(item, computeDeps(item, env), {
    throttledMaxMinutes: throttledRestoreMinutes(env.settings, item.drainTimeoutMinutes),
  });
  const nextCheckSeconds = afterRestoreCheck({
    result,
    restoreDeadline: item.restore.deadline,
    restoreTimeoutMinutes: env.settings.computeRestoreTimeoutMinutes,
    now: env.clock.now(),
    leaseMinutes: env.settings.lockLeaseMinutes,
  });
  return { ...result, nextCheckSeconds };
});
