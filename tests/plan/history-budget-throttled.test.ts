import { describe, expect, it } from 'vitest';
import {
  throttledRestoreMinutes,
  WORKSPACE_HISTORY_BUDGET,
  workspaceHistoryWorstCase,
} from '../../lib/plan/history-budget.ts';
import { worstCasePolls } from '../../lib/poll.ts';
import { LIMITS, loadSettings, THROTTLED_RESTORE_MAX_MINUTES } from '../../lib/settings.ts';

/**
 * A restore Databricks throttles is slower, not failed: each throttled turn moves its deadline by the time
 * it lost, up to `throttledRestoreMinutes` after it began — 8 hours where the rotation's worst case leaves
 * room for the looks that adds in its execution history (DESIGN §6.10), less where it does not.
 */

const settings = (env: Record<string, string> = {}) =>
  loadSettings({
    DATABRICKS_ACCOUNT_ID: '0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf',
    ...env,
  });

/** The worst case with the restore loop running for `minutes` instead of its own timeout. */
const eventsWith = (s: ReturnType<typeof settings>, drain: number, minutes: number) =>
  workspaceHistoryWorstCase(s, drain).events +
  9 *
    (worstCasePolls('restore', minutes, s.lockLeaseMinutes) -
      worstCasePolls('restore', s.computeRestoreTimeoutMinutes, s.lockLeaseMinutes));

describe('How long throttling may move the restore on', () => {
  it('is the whole 8 hours at the default settings, and fits the budget', () => {
    const s = settings();
    expect(throttledRestoreMinutes(s, 60)).toBe(THROTTLED_RESTORE_MAX_MINUTES);
    expect(eventsWith(s, 60, THROTTLED_RESTORE_MAX_MINUTES)).toBeLessThanOrEqual(WORKSPACE_HISTORY_BUDGET);
  });

  it('is what the budget leaves when other loops take most of it: the most minutes that fit', () => {
    const s = settings({ STORAGE_WAIT_MINUTES: '900', LOCK_LEASE_MINUTES: '1000' });
    const minutes = throttledRestoreMinutes(s, LIMITS.drainTimeoutMinutes);
    expect(minutes).toBeGreaterThan(s.computeRestoreTimeoutMinutes);
    expect(minutes).toBeLessThan(THROTTLED_RESTORE_MAX_MINUTES);
    expect(eventsWith(s, LIMITS.drainTimeoutMinutes, minutes)).toBeLessThanOrEqual(WORKSPACE_HISTORY_BUDGET);
    expect(eventsWith(s, LIMITS.drainTimeoutMinutes, minutes + 1)).toBeGreaterThan(WORKSPACE_HISTORY_BUDGET);
  });

  it('is never less than the restore timeout itself, even with no room left', () => {
    const s = settings({
      STORAGE_WAIT_MINUTES: '1440',
      LOCK_LEASE_MINUTES: '1500',
      COMPUTE_RESTORE_TIMEOUT_MINUTES: '100',
    });
    expect(workspaceHistoryWorstCase(s, LIMITS.drainTimeoutMinutes).events).toBeGreaterThan(
      WORKSPACE_HISTORY_BUDGET,
    );
    expect(throttledRestoreMinutes(s, LIMITS.drainTimeoutMinutes)).toBe(100);
  });

  it('never goes past 8 hours, however long the restore timeout', () => {
    const s = settings({ COMPUTE_RESTORE_TIMEOUT_MINUTES: String(LIMITS.computeRestoreTimeoutMinutes) });
    expect(throttledRestoreMinutes(s, 0)).toBe(THROTTLED_RESTORE_MAX_MINUTES);
  });
});
