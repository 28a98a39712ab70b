import { UpdateItemSchema } from '../lib/workspace/schemas.ts';
import { updateWorkspaceKey } from '../lib/workspace/update.ts';
import { defineStep } from './commons/handler.ts';

/** Re-check key and policy, then PATCH the workspace's key field(s); stored under `item.update`. */
export const handler = defineStep('update-workspace', UpdateItemSchema, (item, env) =>
  updateWorkspaceKey(item, {
    account: env.databricks().account,
    kms: env.aws.kms,
    settings: env.settings,
    now: env.clock.now(),
  }),
);
