import type { EventLog } from './events.ts';

/**
 * Step Functions' execution history, counted as a Standard workflow writes it, from the interpreter's events.
 * The events AWS records per state (GetExecutionHistory, HistoryEvent types):
 * - a Lambda Task: `TaskStateEntered`, `LambdaFunctionScheduled`, `LambdaFunctionStarted`, then
 *   `LambdaFunctionSucceeded` + `TaskStateExited`, or `LambdaFunctionFailed`/`TimedOut`; each retry adds
 *   `LambdaFunctionScheduled` + `LambdaFunctionStarted` again; a caught error ends with `TaskStateExited`;
 * - a Map: `MapStateEntered`, `MapStateStarted`, per item `MapIterationStarted` and `MapIterationSucceeded`
 *   (or `Failed`), then `MapStateSucceeded` + `MapStateExited` (or `MapStateFailed`);
 * - Pass, Choice, Wait, Succeed, Fail: `…StateEntered` and `…StateExited`;
 * - the execution: `ExecutionStarted`, then `ExecutionSucceeded` / `Failed` / `Aborted` / `TimedOut`.
 */
export function historyEventsOf(event: EventLog): number {
  switch (event.type) {
    case 'ExecutionStarted':
    case 'ExecutionSucceeded':
    case 'ExecutionFailed':
    case 'ExecutionAborted':
    case 'ExecutionTimeout':
    case 'MapIterationStarted':
    case 'MapIterationSucceeded':
    case 'MapIterationFailed':
    case 'ParallelBranchStarted':
    case 'ParallelBranchSucceeded':
    case 'ParallelBranchFailed':
    case 'StateCaught':
      return 1;
    case 'StateEntered':
      return event.state.type === 'Task'
        ? 3
        : event.state.type === 'Map' || event.state.type === 'Parallel'
          ? 2
          : 1;
    case 'StateExited':
      return event.state.type === 'Task' || event.state.type === 'Map' || event.state.type === 'Parallel'
        ? 2
        : 1;
    case 'StateFailed':
      return event.state.type === 'Task' || event.state.type === 'Map' || event.state.type === 'Parallel'
        ? 1
        : 0;
    case 'StateRetried':
      return event.state.type === 'Task' ? 2 : 0;
    default:
      return 0;
  }
}

/**
 * Step Functions quotas for a Standard workflow that end an execution outright (no Catch sees them):
 * 25,000 history events (the execution fails when event 25,000 is not `ExecutionSucceeded`: "Avoid reaching
 * the history quota", Step Functions developer guide) and 256 KiB of UTF-8 for a state's input or output
 * (`States.DataLimitExceeded`, a terminal error that `States.ALL` does not catch: "Error handling").
 */
export const STEP_FUNCTIONS_QUOTAS = { historyEvents: 25_000, payloadBytes: 262_144 } as const;

/** The execution error a quota breach gives, as Step Functions reports it. */
export function quotaError(
  kind: 'history' | 'payload',
  stateName?: string,
  limit: number = STEP_FUNCTIONS_QUOTAS.historyEvents,
): { name: string; cause: string } {
  return kind === 'history'
    ? {
        name: 'States.Runtime',
        cause: `The execution reached the maximum number of history events (${limit}).`,
      }
    : {
        name: 'States.DataLimitExceeded',
        cause: `The state/task '${stateName ?? ''}' returned a result with a size exceeding the maximum number of bytes service limit.`,
      };
}
