import { databricksFor } from '../lib/databricks/index.ts';
import { holdLease } from '../lib/lock/index.ts';
import { RotationItemSchema } from '../lib/rotation.ts';
import { registerKeyConfig } from '../lib/workspace/key-config.ts';
import { defineStep } from './commons/handler.ts';

/** Register (or reuse) the Databricks key configuration for the target key; stored under `item.keyConfig`. */
export const handler = defineStep('register-key-config', RotationItemSchema, async (item, env) => {
  await holdLease(item, env);
  return registerKeyConfig(databricksFor(env.settings).account, item);
});
