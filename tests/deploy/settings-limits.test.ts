import { describe, expect, it } from 'vitest';
import { workspaceHistoryWorstCase } from '../../lib/plan/history-budget.ts';
import { LIMITS, LOCK_LEASE_MARGIN_MINUTES, loadSettings, requireLockTable } from '../../lib/settings.ts';

const REQUIRED = {
  DATABRICKS_ACCOUNT_ID: 'acc-0d6c9a2e',
  DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:databricks-AbCdEf',
  // A lease long enough for any storage wait, so that each bound is tested on its own.
  LOCK_LEASE_MINUTES: String(LIMITS.lockLeaseMinutes),
};

/** What `loadSettings` threw for these variables (fails the test when it did not throw). */
function refusal(env: Record<string, string>): Error & { details?: Record<string, unknown> } {
  try {
    loadSettings({ ...REQUIRED, ...env });
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected InvalidSettings');
}

const BOUNDED: [string, number][] = [
  ['OLD_KEY_RETENTION_HOURS', LIMITS.oldKeyRetentionHours],
  ['STORAGE_WAIT_MINUTES', LIMITS.storageWaitMinutes],
  ['MAX_CONCURRENT_WORKSPACES', LIMITS.maxConcurrentWorkspaces],
  ['API_CONCURRENCY', LIMITS.apiConcurrency],
  ['COMPUTE_STOP_TIMEOUT_MINUTES', LIMITS.computeStopTimeoutMinutes],
  ['WORKSPACE_UPDATE_TIMEOUT_MINUTES', LIMITS.workspaceUpdateTimeoutMinutes],
  ['COMPUTE_RESTORE_TIMEOUT_MINUTES', LIMITS.computeRestoreTimeoutMinutes],
  ['LOCK_LEASE_MINUTES', LIMITS.lockLeaseMinutes],
];

describe('loadSettings: bounds', () => {
  it.each(BOUNDED)('accepts %s at its bound %d', (name, max) => {
    expect(() => loadSettings({ ...REQUIRED, [name]: String(max) })).not.toThrow();
  });

  it.each(BOUNDED)('refuses %s above its bound %d with InvalidSettings naming it', (name, max) => {
    // Act
    const error = refusal({ [name]: String(max + 1) });
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.details?.field).toBe(name);
    expect(error.message).toContain(`setting ${name} is invalid: must be at most ${max}`);
  });

  it.each([
    ['Infinity', 'OLD_KEY_RETENTION_HOURS'],
    ['1e400', 'COMPUTE_STOP_TIMEOUT_MINUTES'],
    ['NaN', 'API_CONCURRENCY'],
    ['twenty', 'STORAGE_WAIT_MINUTES'],
  ])('refuses %s as %s', (value, name) => {
    expect(refusal({ [name]: value }).details?.field).toBe(name);
  });

  it('keeps the poll deadlines of one rotation within its 25,000-event history', () => {
    // Every poll deadline at its bound (the storage wait at its default: the plan refuses a longer one that
    // does not fit, see tests/lock/history-budget.test.ts), at the poll schedule's worst case (lib/poll.ts).
    const { events } = workspaceHistoryWorstCase(
      {
        computeStopTimeoutMinutes: LIMITS.computeStopTimeoutMinutes,
        workspaceUpdateTimeoutMinutes: LIMITS.workspaceUpdateTimeoutMinutes,
        recoveryWorkspaceWaitMinutes: LIMITS.recoveryWorkspaceWaitMinutes,
        computeRestoreTimeoutMinutes: LIMITS.computeRestoreTimeoutMinutes,
        storageWaitMinutes: 20,
      },
      LIMITS.drainTimeoutMinutes,
    );
    expect(events).toBeLessThan(25_000);
  });
});

describe('loadSettings: the workspace lock', () => {
  it('leases a lock for 30 minutes by default and has no table unless one is set', () => {
    const { LOCK_LEASE_MINUTES: _, ...required } = REQUIRED;
    expect(loadSettings(required)).toMatchObject({ lockLeaseMinutes: 30, lockTable: undefined });
    expect(loadSettings({ ...required, LOCK_TABLE: 'locks' }).lockTable).toBe('locks');
  });

  it('refuses a lease that the storage wait could outlast, naming both settings', () => {
    // Act
    const error = refusal({ STORAGE_WAIT_MINUTES: '40', LOCK_LEASE_MINUTES: '30' });
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.details?.field).toBe('LOCK_LEASE_MINUTES');
    expect(error.message).toContain('must be at least STORAGE_WAIT_MINUTES (40) + 5');
  });

  it('covers the longest storage wait with the longest lease', () => {
    expect(LIMITS.lockLeaseMinutes).toBeGreaterThanOrEqual(
      LIMITS.storageWaitMinutes + LOCK_LEASE_MARGIN_MINUTES,
    );
  });

  it('requires the table, naming LOCK_TABLE, where a step needs it', () => {
    expect(() => requireLockTable({ lockTable: undefined }, 'lock the workspace')).toThrow(
      /setting LOCK_TABLE is not set, and it is needed to lock the workspace/,
    );
    expect(requireLockTable({ lockTable: 'locks' }, 'lock the workspace')).toBe('locks');
  });
});

describe('loadSettings: WORKSPACE_IDS', () => {
  it('reads sixteen-digit ids exactly', () => {
    // Act
    const settings = loadSettings({ ...REQUIRED, WORKSPACE_IDS: '1234567890123456, 9007199254740991' });
    // Assess
    expect(settings.workspaceIds).toEqual([1234567890123456, 9007199254740991]);
  });

  it.each([
    ['an id beyond 2^53 - 1', '9007199254740993'],
    ['a float', '12.5'],
    ['zero', '0'],
    ['a name', 'prod'],
  ])('refuses %s', (_, value) => {
    // Act
    const error = refusal({ WORKSPACE_IDS: `1234567890123456,${value}` });
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.details?.field).toBe('WORKSPACE_IDS');
    expect(error.message).toContain(value);
  });

  it('refuses repeated ids, naming them', () => {
    // Act
    const error = refusal({ WORKSPACE_IDS: '11,22,11,33,22' });
    // Assess
    expect(error.message).toBe(
      'setting WORKSPACE_IDS repeats workspace id(s) 11, 22; list each workspace once',
    );
  });

  it(`refuses more than ${LIMITS.workspaceIds} ids`, () => {
    // Act
    const error = refusal({
      WORKSPACE_IDS: Array.from({ length: LIMITS.workspaceIds + 1 }, (_, i) => 1000 + i).join(','),
    });
    // Assess
    expect(error.details?.field).toBe('WORKSPACE_IDS');
    expect(error.message).toContain(`at most ${LIMITS.workspaceIds}`);
  });
});
