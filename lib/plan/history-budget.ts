import type { Settings } from '../settings.ts';
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
 * The poll loops of rotate-one-workspace (statemachines/rotate-one-workspace.asl.json), with their Wait
 * seconds, and the longest each may run at these settings. The worst path drains, stops, updates, then
 * fails: waits for the workspace to settle, keeps compute stopped through the storage wait, and restores.
 */
export function workspaceHistoryWorstCase(
  settings: Pick<
    Settings,
    | 'computeStopTimeoutMinutes'
    | 'workspaceUpdateTimeoutMinutes'
    | 'recoveryWorkspaceWaitMinutes'
    | 'storageWaitMinutes'
    | 'computeRestoreTimeoutMinutes'
  >,
  drainTimeoutMinutes: number,
): { events: number; loops: Array<{ loop: string; minutes: number; everySeconds: number; events: number }> } {
  const loop = (name: string, minutes: number, everySeconds: number) => ({
    loop: name,
    minutes,
    everySeconds,
    events: Math.ceil((minutes * 60) / everySeconds) * EVENTS_PER_POLL,
  });
  const loops = [
    loop('drain (drainTimeoutMinutes)', drainTimeoutMinutes, 15),
    loop('stop (COMPUTE_STOP_TIMEOUT_MINUTES)', settings.computeStopTimeoutMinutes, 15),
    loop('workspace update (WORKSPACE_UPDATE_TIMEOUT_MINUTES)', settings.workspaceUpdateTimeoutMinutes, 30),
    loop('recovery wait (RECOVERY_WORKSPACE_WAIT_MINUTES)', settings.recoveryWorkspaceWaitMinutes, 60),
    loop('storage wait (STORAGE_WAIT_MINUTES)', settings.storageWaitMinutes, 60),
    loop('restore (COMPUTE_RESTORE_TIMEOUT_MINUTES)', settings.computeRestoreTimeoutMinutes, 20),
  ];
  return { events: FIXED_EVENTS + loops.reduce((sum, l) => sum + l.events, 0), loops };
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
    .map((l) => `${l.loop}: ${l.minutes} min at one poll per ${l.everySeconds} s = ${l.events} events`)
    .join('; ');
  throw new HistoryBudgetExceeded(
    `one workspace's rotation could write ${events} execution history events at these settings, more than the ${WORKSPACE_HISTORY_BUDGET} it may use (Step Functions ends an execution outright at 25,000, with no compensation); nothing was touched. Largest: ${largest}. Lower one of them.`,
    { details: { events, budget: WORKSPACE_HISTORY_BUDGET } },
  );
}
