import { describe, expect, it } from 'vitest';
import { HistoryBudgetExceeded } from '../../lib/plan/errors.ts';
import {
  assertHistoryBudget,
  WORKSPACE_HISTORY_BUDGET,
  workspaceHistoryWorstCase,
} from '../../lib/plan/history-budget.ts';
import { loadSettings } from '../../lib/settings.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario, parseScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const settings = (env: Record<string, string> = {}) =>
  loadSettings({
    DATABRICKS_ACCOUNT_ID: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf',
    ...env,
  });

describe('History budget of one workspace’s execution', () => {
  it('fits the longest drain an input may ask at the default settings', () => {
    // Act
    const { events } = workspaceHistoryWorstCase(settings(), 240);
    // Assess
    expect(events).toBeLessThanOrEqual(WORKSPACE_HISTORY_BUDGET);
    expect(() => assertHistoryBudget(settings(), 240)).not.toThrow();
  });

  it('refuses, naming the largest loops, settings under which a rotation could outgrow the history', () => {
    // Act
    const act = () =>
      assertHistoryBudget(settings({ STORAGE_WAIT_MINUTES: '1440', LOCK_LEASE_MINUTES: '1445' }), 60);
    // Assess
    expect(act).toThrow(HistoryBudgetExceeded);
    expect(act).toThrow(/storage wait \(STORAGE_WAIT_MINUTES\): 1440 min, at most 1441 polls = 12969 events/);
  });

  it('holds against the runner: a 4 h drain behind a run that never ends stays within the estimate', async () => {
    // Prepare: a job run that never ends, and the longest drain an input may ask
    const raw = JSON.parse(
      JSON.stringify(
        await loadScenario(
          new URL('../../local/scenarios/rotate-managed-services.json', import.meta.url).pathname,
        ),
      ),
    ) as { databricks: { workspaces: Array<Record<string, unknown>> }; input: Record<string, unknown> };
    const ws = raw.databricks.workspaces[0] as Record<string, unknown>;
    ws.jobs = [{ job_id: 77, settings: { name: 'forever' } }];
    ws.runs = [
      { run_id: 7701, job_id: 77, state: { life_cycle_state: 'RUNNING' }, remainingSeconds: 10_000_000 },
    ];
    raw.input = { ...raw.input, activeRuns: 'wait', drainTimeoutMinutes: 240 };
    const scenario = parseScenario(raw);
    // Act
    const report = await runScenario(scenario);
    // Assess: drained for 4 h, gave up naming the run, and the execution stayed well within the quota
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('DrainTimeout');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    const estimate = workspaceHistoryWorstCase(settings(), 240);
    const drain = estimate.loops.find((l) => l.loop.startsWith('drain'));
    // The drain backs off (lib/poll.ts): its looks are the loop's worst case, exactly what the estimate counts.
    expect(report.historyEvents).toBeGreaterThan(drain?.events ?? Number.POSITIVE_INFINITY);
    expect(report.historyEvents).toBeLessThanOrEqual(estimate.events);
    console.log('4 h drain: history events', report.historyEvents, 'estimate', estimate.events);
  }, 300_000);
});
