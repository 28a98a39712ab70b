import { computeDeps, keepComputeStopped, notKeptStopped } from '../lib/compute/index.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { afterWorkspaceCheck } from '../lib/poll.ts';
import { checkWorkspace } from '../lib/workspace/check.ts';
import { CheckItemSchema } from '../lib/workspace/schemas.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One poll after the update: RUNNING on the new key, WAITING, or a named failure; stored under
 * `item.workspaceCheck`. While the workspace updates it also keeps compute stopped (DESIGN §6.5: nothing may
 * start until the storage wait ends, whoever starts it): what came back is stopped again and added to the
 * restore set (best effort: a workspace API that does not answer during the update does not fail the poll).
 * Compute that could not be stopped again by the time the workspace runs on the new key (with no storage wait
 * to follow) fails the poll with `ComputeNotKeptStopped`, naming it.
 * Each poll also renews the workspace lock (lib/lock, best effort). `nextCheckSeconds`: lib/poll.ts.
 */
export const handler = defineStep('check-workspace', CheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  const result = await checkWorkspace(databricksFor(env.settings).account, item, env.clock.now());
  const guard = await keepComputeStopped(item, computeDeps(item, env));
  // The update is over and no storage wait follows: compute someone started that could not be stopped
  // again ran during the update. Named, so the alarm fires (the recovery path restores compute as usual).
  if (result.status === 'RUNNING' && guard.unstoppable && !item.workspace.storageAdded) {
    throw notKeptStopped(item.workspace, 'the workspace update', guard.unstoppable);
  }
  const nextCheckSeconds = afterWorkspaceCheck({
    result,
    patchedAt: item.update.patchedAt,
    now: env.clock.now(),
    leaseMinutes: env.settings.lockLeaseMinutes,
  });
  return { ...result, guard, nextCheckSeconds };
});
