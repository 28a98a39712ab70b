import { POLL_LOOPS, type PollLoop, worstCasePolls } from '../poll.ts';
import { type Settings, THROTTLED_RESTORE_MAX_MINUTES } from '../settings.ts';
import { MAX_COMPUTE_REFUSALS } from '../workspace/update.ts';
import { HistoryBudgetExceeded } from './errors.ts';

/**
 * Step Functions ends an execution outright at 25,000 history events (no Catch, no compensation). One
 * workspace rotates in its own execution (rotate-one-workspace), whose only unbounded parts are its poll
 * loops; this is their worst case, so a rotation that could outgrow the quota is refused in the plan, before
 * anything is touched, instead of dying half-way. Budget: 20,000, leaving room for retries and the fixed
 * steps.
 */
export const WORKSPACE_HISTORY_BUDGET = 20_000;

/** History events of one poll turn: Wait (entered, exited), Lambda Task (5), Choice (2). */
const EVENTS_PER_POLL = 9;
/** The fixed part of one workspace's execution (lock, policy, key configuration, stop, update, release…). */
const FIXED_EVENTS = 200;
/**
 * The most retries one visit of a Task can make: the sum of its retriers' `MaxAttempts` in
 * rotate-one-workspace (`DatabricksThrottled` 6, every other transient error 5; each retrier counts on its
 * own). Checked against the ASL by tests/plan/history-budget-recovery.test.ts.
 */
export const MAX_RETRIES_PER_TASK = 11;
/**
 * History events of one Task retry: the failed attempt's `LambdaFunctionFailed` (or `TimedOut`), then
 * `LambdaFunctionScheduled` and `LambdaFunctionStarted` again.
 */
export const EVENTS_PER_RETRY = 3;

/**
 * The poll loops of rotate-one-workspace (statemachines/rotate-one-workspace.asl.json) and the longest each
 * may run at these settings. Each check says when to look next (lib/poll.ts), never sooner than that
 * loop's floor, so `worstCasePolls` bounds its looks whatever the platform does. The worst path drains,
 * stops (again after each PATCH Databricks refuses because compute runs), updates, guards the storage wait,
 * then fails there: its failing check exhausts every retry, recovery waits for the workspace to settle,
 * keeps compute stopped through what is left of the storage wait, and restores.
 *
 * The storage wait is counted once: recovery's guard counts it from when the workspace was first seen
 * running on the new key (lib/compute/stop.ts), so the main path's looks and recovery's together are at most
 * one more than a single uninterrupted wait (recovery's first look, off the minute). A failure before the
 * workspace ran on the new key never started the main path's storage wait: recovery waits it whole, once.
 *
 * Retries that end in success can come at any Task and are not counted here: counting eleven at every look
 * (33 events beside its 9) would put even the default settings' worst case, about 1,000 looks, past the
 * quota. The 5,000 events between this budget and the quota hold about 1,600 of them.
 */
export function workspaceHistoryWorstCase(
  settings: Pick<
    Settings,
    | 'computeStopTimeoutMinutes'
    | 'workspaceUpdateTimeoutMinutes'
    | 'recoveryWorkspaceWaitMinutes'
    | 'storageWaitMinutes'
    | 'computeRestoreTimeoutMinutes'
  > &
    Partial<Pick<Settings, 'lockLeaseMinutes'>>,
  drainTimeoutMinutes: number,
): {
  events: number;
  loops: Array<{ loop: string; minutes: number; polls: number; minSeconds: number; events: number }>;
  /** The retries the worst path itself holds: those of the check whose failure sends it to recovery. */
  retries: { retries: number; events: number };
} {
  const loop = (name: string, kind: PollLoop, minutes: number, times = 1) => {
    const polls = times * worstCasePolls(kind, minutes, settings.lockLeaseMinutes);
    return {
      loop: name,
      minutes: times * minutes,
      polls,
      minSeconds: POLL_LOOPS[kind].minSeconds,
      events: polls * EVENTS_PER_POLL,
    };
  };
  const loops = [
    loop('drain (drainTimeoutMinutes)', 'drain', drainTimeoutMinutes),
    loop('stop (COMPUTE_STOP_TIMEOUT_MINUTES)', 'stop', settings.computeStopTimeoutMinutes),
    loop(
      `stop again after a refused update (${MAX_COMPUTE_REFUSALS} × COMPUTE_STOP_TIMEOUT_MINUTES)`,
      'stop',
      settings.computeStopTimeoutMinutes,
      MAX_COMPUTE_REFUSALS,
    ),
    loop(
      'workspace update (WORKSPACE_UPDATE_TIMEOUT_MINUTES)',
      'update',
      settings.workspaceUpdateTimeoutMinutes,
    ),
    loop(
      'recovery wait (RECOVERY_WORKSPACE_WAIT_MINUTES)',
      'recovery',
      settings.recoveryWorkspaceWaitMinutes,
    ),
    loop('storage wait (STORAGE_WAIT_MINUTES)', 'storageWait', settings.storageWaitMinutes),
    {
      loop: 'storage wait resumed in recovery (what is left of STORAGE_WAIT_MINUTES)',
      minutes: 0,
      polls: 1,
      minSeconds: POLL_LOOPS.storageWait.minSeconds,
      events: EVENTS_PER_POLL,
    },
    // Throttling may move the restore on, but only within what this worst case leaves of the budget
    // (`throttledRestoreMinutes`).
    loop('restore (COMPUTE_RESTORE_TIMEOUT_MINUTES)', 'restore', settings.computeRestoreTimeoutMinutes),
  ];
  const retries = { retries: MAX_RETRIES_PER_TASK, events: MAX_RETRIES_PER_TASK * EVENTS_PER_RETRY };
  return {
    events: FIXED_EVENTS + loops.reduce((sum, l) => sum + l.events, 0) + retries.events,
    loops,
    retries,
  };
}

/**
 * How long after it began Databricks throttling may move the restore loop on (minutes; each throttled turn
 * moves the restore deadline by the time it lost, lib/compute/restore.ts): up to
 * `THROTTLED_RESTORE_MAX_MINUTES`, as far as the budget this rotation's worst case leaves allows, counting
 * the extra looks at the restore loop's floor; never less than COMPUTE_RESTORE_TIMEOUT_MINUTES. At the
 * defaults that is the whole 8 hours. Pure, from the deployment's settings and the execution's drain timeout,
 * so every turn of the restore check computes the same bound.
 */
export function throttledRestoreMinutes(
  settings: Parameters<typeof workspaceHistoryWorstCase>[0],
  drainTimeoutMinutes: number,
): number {
  const own = settings.computeRestoreTimeoutMinutes;
  const spare = WORKSPACE_HISTORY_BUDGET - workspaceHistoryWorstCase(settings, drainTimeoutMinutes).events;
  const extraPolls = (minutes: number) =>
    worstCasePolls('restore', minutes, settings.lockLeaseMinutes) -
    worstCasePolls('restore', own, settings.lockLeaseMinutes);
  let fits = own;
  let over = Math.max(own, THROTTLED_RESTORE_MAX_MINUTES) + 1;
  // The largest whole number of minutes whose extra looks fit (the count grows with the minutes).
  while (over - fits > 1) {
    const mid = Math.floor((fits + over) / 2);
    if (extraPolls(mid) * EVENTS_PER_POLL <= spare) fits = mid;
    else over = mid;
  }
  return fits;
}

/** Refuses, naming the largest loops, a rotation whose worst case does not fit `WORKSPACE_HISTORY_BUDGET`. */
export function assertHistoryBudget(
  settings: Parameters<typeof workspaceHistoryWorstCase>[0],
  drainTimeoutMinutes: number,
): void {
  const { events, loops } = workspaceHistoryWorstCase(settings, drainTimeoutMinutes);
  if (events <= WORKSPACE_HISTORY_BUDGET) return;
  const largest = [...loops]
    .sort((a, b) => b.events - a.events)
    .slice(0, 3)
    .map((l) => `${l.loop}: ${l.minutes} min, at most ${l.polls} polls = ${l.events} events`)
    .join('; ');
  throw new HistoryBudgetExceeded(
    `one workspace's rotation could write ${events} execution history events at these settings, more than the ${WORKSPACE_HISTORY_BUDGET} it may use (Step Functions ends an execution outright at 25,000, with no compensation); nothing was touched. Largest: ${largest}. Lower one of them.`,
    { details: { events, budget: WORKSPACE_HISTORY_BUDGET } },
  );
}
