import { computeDeps, keepComputeStopped } from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { checkWorkspace } from '../lib/workspace/check.ts';
import { CheckItemSchema } from '../lib/workspace/schemas.ts';
import { defineStep } from './commons/handler.ts';

/**
 * One poll after the update: RUNNING on the new key, WAITING, or a named failure; stored under
 * `item.workspaceCheck`. While the workspace updates it also keeps compute stopped (DESIGN §6.5: nothing may
 * start until the storage wait ends, whoever starts it): what came back is stopped again and added to the
 * restore set (best effort: a workspace API that does not answer during the update does not fail the poll).
 * Each poll also renews the workspace lock (lib/lock, best effort).
 */
export const handler = defineStep('check-workspace', CheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  const result = await checkWorkspace(env.databricks().account, item, env.clock.now());
  return { ...result, guard: await keepComputeStopped(item, computeDeps(item, env)) };
});
