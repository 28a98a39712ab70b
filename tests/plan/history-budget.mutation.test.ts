import { describe, expect, it } from 'vitest';
import { HistoryBudgetExceeded } from '../../lib/plan/errors.ts';
import {
  assertHistoryBudget,
  EVENTS_PER_RETRY,
  MAX_RETRIES_PER_TASK,
  WORKSPACE_HISTORY_BUDGET,
  workspaceHistoryWorstCase,
} from '../../lib/plan/history-budget.ts';
import { worstCasePolls } from '../../lib/poll.ts';
import { loadSettings } from '../../lib/settings.ts';

/**
 * The worst case of one workspace's execution history (DESIGN §6.10): the loops it counts, as the plan's
 * refusal names them, and that refusal itself.
 */

const settings = (env: Record<string, string> = {}) =>
  loadSettings({
    DATABRICKS_ACCOUNT_ID: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf',
    ...env,
  });

/** History events of one poll turn: Wait (2), Lambda Task (5), Choice (2). */
const EVENTS_PER_POLL = 9;
/** The fixed part of one workspace's execution. */
const FIXED_EVENTS = 200;

/** A day's storage wait and a lease long enough to hold it: its looks alone take most of the budget. */
const LONG_STORAGE_WAIT = {
  computeStopTimeoutMinutes: 30,
  workspaceUpdateTimeoutMinutes: 120,
  recoveryWorkspaceWaitMinutes: 180,
  storageWaitMinutes: 1440,
  computeRestoreTimeoutMinutes: 45,
  lockLeaseMinutes: 1500,
};
const DRAIN_MINUTES = 60;

/** `name: minutes, polls, events` of a loop counted `times` over, as the refusal names it. */
const named = (name: string, loop: Parameters<typeof worstCasePolls>[0], minutes: number, times = 1) => {
  const polls = times * worstCasePolls(loop, minutes, LONG_STORAGE_WAIT.lockLeaseMinutes);
  return { name, minutes: times * minutes, polls, events: polls * EVENTS_PER_POLL };
};

describe('The loops of the worst case', () => {
  it('names each loop by the setting that bounds it, in the order of the rotation', () => {
    // Act
    const { loops } = workspaceHistoryWorstCase(settings(), DRAIN_MINUTES);
    // Assess
    expect(loops.map((l) => l.loop)).toEqual([
      'drain (drainTimeoutMinutes)',
      'stop (COMPUTE_STOP_TIMEOUT_MINUTES)',
      'stop again after a refused update (3 × COMPUTE_STOP_TIMEOUT_MINUTES)',
      'workspace update (WORKSPACE_UPDATE_TIMEOUT_MINUTES)',
      'recovery wait (RECOVERY_WORKSPACE_WAIT_MINUTES)',
      'storage wait (STORAGE_WAIT_MINUTES)',
      'storage wait resumed in recovery (what is left of STORAGE_WAIT_MINUTES)',
      'restore (COMPUTE_RESTORE_TIMEOUT_MINUTES)',
    ]);
  });

  it('counts the stop again after each refused update: three times its minutes and its looks', () => {
    // Act
    const { loops } = workspaceHistoryWorstCase(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    const [drain, stop, again] = loops;
    // Assess
    expect(drain?.minutes).toBe(DRAIN_MINUTES);
    expect(stop?.minutes).toBe(30);
    expect(again?.minutes).toBe(90);
    expect(again?.polls).toBe(3 * worstCasePolls('stop', 30, LONG_STORAGE_WAIT.lockLeaseMinutes));
    expect(again?.events).toBe(EVENTS_PER_POLL * (again?.polls ?? 0));
  });

  it('counts the storage wait exactly: a look a minute and one at its start, then one in recovery', () => {
    // Act
    const { loops } = workspaceHistoryWorstCase(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    // Assess
    expect(loops[5]).toEqual({
      loop: 'storage wait (STORAGE_WAIT_MINUTES)',
      minutes: 1440,
      polls: 1441,
      minSeconds: 1,
      events: 1441 * EVENTS_PER_POLL,
    });
    expect(loops[6]).toMatchObject({ minutes: 0, polls: 1, events: EVENTS_PER_POLL });
  });

  it('adds the fixed steps and the retries of the failing check to the looks', () => {
    // Act
    const worst = workspaceHistoryWorstCase(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    // Assess
    const polls = worst.loops.reduce((sum, l) => sum + l.polls, 0);
    expect(worst.retries).toEqual({ retries: 11, events: 33 });
    expect(worst.events).toBe(
      FIXED_EVENTS + EVENTS_PER_POLL * polls + MAX_RETRIES_PER_TASK * EVENTS_PER_RETRY,
    );
  });
});

describe('Refusing a rotation whose worst case does not fit', () => {
  it('accepts the default settings', () => {
    expect(() => assertHistoryBudget(settings(), DRAIN_MINUTES)).not.toThrow();
  });

  it('names the three largest loops, largest first, with their minutes, polls and events', () => {
    // Prepare: the storage wait (1,441 looks), then recovery and the update; the drain, listed first, is small
    const storage = {
      name: 'storage wait (STORAGE_WAIT_MINUTES)',
      minutes: 1440,
      polls: 1441,
      events: 12_969,
    };
    const recovery = named('recovery wait (RECOVERY_WORKSPACE_WAIT_MINUTES)', 'recovery', 180);
    const update = named('workspace update (WORKSPACE_UPDATE_TIMEOUT_MINUTES)', 'update', 120);
    const line = (l: typeof storage) =>
      `${l.name}: ${l.minutes} min, at most ${l.polls} polls = ${l.events} events`;
    // Act
    let error: unknown;
    try {
      assertHistoryBudget(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    } catch (e) {
      error = e;
    }
    // Assess
    expect(error).toBeInstanceOf(HistoryBudgetExceeded);
    const message = (error as HistoryBudgetExceeded).message;
    expect(recovery.events).toBeGreaterThan(update.events);
    expect(message).toContain(
      `Largest: ${line(storage)}; ${line(recovery)}; ${line(update)}. Lower one of them.`,
    );
  });

  it('says how many events it could write against the budget, in its message and its details', () => {
    // Prepare
    const { events } = workspaceHistoryWorstCase(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    // Act
    let error: unknown;
    try {
      assertHistoryBudget(LONG_STORAGE_WAIT, DRAIN_MINUTES);
    } catch (e) {
      error = e;
    }
    // Assess
    expect(events).toBeGreaterThan(WORKSPACE_HISTORY_BUDGET);
    expect(error).toBeInstanceOf(HistoryBudgetExceeded);
    expect((error as HistoryBudgetExceeded).message).toContain(
      `could write ${events} execution history events at these settings, more than the 20000 it may use`,
    );
    expect((error as HistoryBudgetExceeded).details).toEqual({ events, budget: 20_000 });
  });
});
