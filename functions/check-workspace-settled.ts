import { computeDeps, describeNotRestored, keepComputeStopped } from '../lib/compute/index.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { afterSettleCheck } from '../lib/poll.ts';
import { checkWorkspaceSettled, SettleItemSchema } from '../lib/workspace/settle.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Recovery after a failure at or after the PATCH: wait until the workspace is no longer updating before
 * anything is restarted; stored under `item.settled`, with `nextCheckSeconds` (lib/poll.ts).
 */
export const handler = defineStep('check-workspace-settled', SettleItemSchema, async (item, env) => {
  await keepLease(item, env);
  const result = await checkWorkspaceSettled(item, {
    account: databricksFor(env.settings).account,
    now: env.clock.now(),
    waitMinutes: env.settings.recoveryWorkspaceWaitMinutes,
    describeStopped: async () => (await describeNotRestored(item, computeDeps(item, env))).summary,
    keepStopped: () => keepComputeStopped(item, computeDeps(item, env)),
  });
  const nextCheckSeconds = afterSettleCheck({
    result,
    patchedAt: item.update?.patchedAt,
    recoveryWaitMinutes: env.settings.recoveryWorkspaceWaitMinutes,
    now: env.clock.now(),
    leaseMinutes: env.settings.lockLeaseMinutes,
  });
  return { ...result, nextCheckSeconds };
});
