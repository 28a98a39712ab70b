import { checkWorkspace } from '../lib/workspace/check.ts';
import { CheckItemSchema } from '../lib/workspace/schemas.ts';
import { defineStep } from './commons/handler.ts';

/** One poll after the update: RUNNING on the new key, WAITING, or a named failure; stored under `item.workspaceCheck`. */
export const handler = defineStep('check-workspace', CheckItemSchema, (item, env) =>
  checkWorkspace(env.databricks().account, item, env.clock.now()),
);
