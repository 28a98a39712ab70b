import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  EVENTS_PER_RETRY,
  MAX_RETRIES_PER_TASK,
  WORKSPACE_HISTORY_BUDGET,
  workspaceHistoryWorstCase,
} from '../../lib/plan/history-budget.ts';
import { worstCasePolls } from '../../lib/poll.ts';
import { loadSettings } from '../../lib/settings.ts';
import { baseScenario, expectSafe, run } from '../recovery/harness.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * DESIGN §6.10: the plan refuses a rotation whose worst case could outgrow the 25,000 history events of its
 * execution. That worst case includes what the recovery path adds after a failure during the storage wait:
 * the failing check's retries and recovery's guard over what is left of the storage wait — never a second
 * whole wait.
 */

const settings = (env: Record<string, string> = {}) =>
  loadSettings({
    DATABRICKS_ACCOUNT_ID: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf',
    ...env,
  });

interface AslState {
  Type?: string;
  Retry?: Array<{ MaxAttempts?: number }>;
  Branches?: Array<{ States: Record<string, AslState> }>;
  Iterator?: { States: Record<string, AslState> };
  ItemProcessor?: { States: Record<string, AslState> };
}

/** Every Task of a state machine with the most retries one visit of it can make (each retrier counts alone). */
function retriesPerTask(states: Record<string, AslState>): Array<[string, number]> {
  return Object.entries(states).flatMap(
    ([name, s]): Array<[string, number]> => [
      // ASL: MaxAttempts defaults to 3.
      ...(s.Type === 'Task'
        ? [[name, (s.Retry ?? []).reduce((sum, r) => sum + (r.MaxAttempts ?? 3), 0)] as [string, number]]
        : []),
      ...(s.Branches ?? []).flatMap((b) => retriesPerTask(b.States)),
      ...[s.Iterator, s.ItemProcessor].flatMap((p) => (p ? retriesPerTask(p.States) : [])),
    ],
  );
}

describe('History budget: what recovery adds after a failure during the storage wait', () => {
  it('counts as many retries of the failing check as any Task of rotate-one-workspace can make', () => {
    // Prepare
    const asl = JSON.parse(
      readFileSync(new URL('../../statemachines/rotate-one-workspace.asl.json', import.meta.url), 'utf8'),
    ) as { States: Record<string, AslState> };
    // Act
    const tasks = retriesPerTask(asl.States);
    const { retries } = workspaceHistoryWorstCase(settings(), 60);
    // Assess
    expect(tasks.length).toBeGreaterThan(10);
    const most = Math.max(...tasks.map(([, n]) => n));
    expect(MAX_RETRIES_PER_TASK, JSON.stringify(tasks)).toBeGreaterThanOrEqual(most);
    expect(retries.events).toBe(MAX_RETRIES_PER_TASK * EVENTS_PER_RETRY);
  });

  it("counts recovery's guard over what is left of the storage wait as one look more, not a second wait", () => {
    // Act
    const { loops } = workspaceHistoryWorstCase(
      settings({ STORAGE_WAIT_MINUTES: '1440', LOCK_LEASE_MINUTES: '1445' }),
      60,
    );
    const storage = loops.filter((l) => l.loop.startsWith('storage wait'));
    // Assess
    expect(storage.map((l) => l.polls)).toEqual([worstCasePolls('storageWait', 1440, 1445), 1]);
  });

  it('still lets typical plans through: the default settings, and a day-long storage wait with a short recovery wait', () => {
    // Act
    const defaults = workspaceHistoryWorstCase(settings(), 240).events;
    const dayLong = workspaceHistoryWorstCase(
      settings({
        STORAGE_WAIT_MINUTES: '1440',
        LOCK_LEASE_MINUTES: '1445',
        RECOVERY_WORKSPACE_WAIT_MINUTES: '1',
      }),
      60,
    ).events;
    // Assess
    expect(defaults).toBeLessThanOrEqual(WORKSPACE_HISTORY_BUDGET);
    expect(dayLong).toBeLessThanOrEqual(WORKSPACE_HISTORY_BUDGET);
  });

  it('holds against the runner: a storage wait interrupted near its end stays within the estimate', async () => {
    // Prepare: a 25-minute storage wait whose guard fails for good (six attempts) after 22 looks
    const scenario = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: 25 },
      awsFaults: [
        {
          service: 'lambda',
          operation: 'Keep compute stopped during the storage wait',
          error: 'Lambda.Unknown',
          skip: 22,
          times: 6,
        },
      ],
    });
    // Act
    const report = await run(scenario);
    // Assess: the main guard's looks and recovery's together are at most one more than one whole wait
    expectSafe(scenario, report, 'interrupted storage wait');
    const looks = (name: string) => report.states.filter((s) => s.name === name).length;
    const main = looks('Keep compute stopped during the storage wait');
    const recovery = looks('Keep compute stopped before restoring');
    expect(main).toBe(23);
    expect(recovery).toBeGreaterThan(0);
    expect(main + recovery).toBeLessThanOrEqual(worstCasePolls('storageWait', 25) + 1);
    const estimate = workspaceHistoryWorstCase(settings({ STORAGE_WAIT_MINUTES: '25' }), 60);
    expect(report.historyEvents).toBeLessThanOrEqual(estimate.events);
  }, 120_000);
});
