import { computeDeps, StopItemSchema, stopCompute } from '../lib/compute/index.ts';
import { defineStep } from './commons/handler.ts';

/** Snapshot, then stop the workspace's compute in the reference's order; stored under `item.compute`. */
export const handler = defineStep('stop-compute', StopItemSchema, (item, env) =>
  stopCompute(item, computeDeps(item, env)),
);
