import { computeDeps, RestoreItemSchema, restoreCompute } from '../lib/compute/index.ts';
import { defineStep } from './commons/handler.ts';

/** Bring back exactly what ran (also the compensation step after a failure); stored under `item.restore`. */
export const handler = defineStep('restore-compute', RestoreItemSchema, (item, env) =>
  restoreCompute(item, computeDeps(item, env)),
);
