import { checkComputeStopped, computeDeps, StopCheckItemSchema } from '../lib/compute/index.ts';
import { defineStep } from './commons/handler.ts';

/** One turn of the stop loop (and the re-check before the PATCH); stored under `item.computeCheck`. */
export const handler = defineStep('check-compute-stopped', StopCheckItemSchema, (item, env) =>
  checkComputeStopped(item, computeDeps(item, env)),
);
