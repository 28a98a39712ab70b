import { checkComputeRestored, computeDeps, RestoreCheckItemSchema } from '../lib/compute/index.ts';
import { keepLease } from '../lib/lock/index.ts';
import { defineStep } from './commons/handler.ts';

/** One turn of the restore loop: RESTORED, WAITING, or `ComputeNotRestored`; stored under `item.restoreCheck`. */
export const handler = defineStep('check-compute-restored', RestoreCheckItemSchema, async (item, env) => {
  await keepLease(item, env);
  return checkComputeRestored(item, computeDeps(item, env));
});
