import { kmsClient } from '../lib/aws/kms.ts';
import { databricksFor } from '../lib/databricks/index.ts';
import { holdLease } from '../lib/lock/index.ts';
import { afterUpdateSent } from '../lib/poll.ts';
import { UpdateItemSchema } from '../lib/workspace/schemas.ts';
import { updateWorkspaceKey } from '../lib/workspace/update.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Renew the workspace lock (never PATCH a workspace another execution holds), re-check key and policy,
 * then PATCH the workspace's key field(s); stored under `item.update`, with `nextCheckSeconds`, the wait
 * before the first check (lib/poll.ts).
 */
export const handler = defineStep('update-workspace', UpdateItemSchema, async (item, env) => {
  await holdLease(item, env);
  const result = await updateWorkspaceKey(item, {
    account: databricksFor(env.settings).account,
    kms: kmsClient(),
    settings: env.settings,
    now: env.clock.now(),
  });
  return { ...result, nextCheckSeconds: afterUpdateSent(result, env.settings.lockLeaseMinutes) };
});
