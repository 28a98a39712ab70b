import { ExecutionStatusChangeSchema, executionsClient, notifyExecutionEnded } from '../lib/notify-format.ts';
import { defineStep } from './commons/handler.ts';

/**
 * EventBridge rule target: a rotation ended (FAILED, TIMED_OUT, ABORTED, or SUCCEEDED with notifyOnSuccess).
 * Publishes what happened to each workspace, what is still stopped, and where to look — never the
 * execution's input or output (lib/notify-format.ts).
 */
export const handler = defineStep('notify-execution-ended', ExecutionStatusChangeSchema, (event) =>
  notifyExecutionEnded(event, { sfn: executionsClient() }),
);
