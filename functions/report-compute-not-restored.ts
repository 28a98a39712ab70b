import { computeDeps, describeNotRestored, RestoreItemSchema } from '../lib/compute/index.ts';
import { defineStep } from './commons/handler.ts';

/**
 * Restoring failed (or was not attempted): record, by id, what is still stopped or paused and where the
 * snapshot is, for the execution's error. Read-only and never fails: a snapshot S3 does not serve at once is
 * asked for again while this invocation has time (lib/deadline.ts). Stored under `item.stillStopped`.
 */
export const handler = defineStep('report-compute-not-restored', RestoreItemSchema, (item, env) =>
  describeNotRestored(item, computeDeps(item, env)),
);
