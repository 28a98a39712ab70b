import { describe, expect, it } from 'vitest';
import {
  afterRestoreCheck,
  afterRestoreIssued,
  afterSettleCheck,
  afterStopCheck,
  afterUpdateSent,
  afterWorkspaceCheck,
  NO_EXPECTATION,
  nextCheckSeconds,
  POLL_LOOPS,
  pollFloorSeconds,
  restoreExpectations,
  stopExpectations,
  TYPICAL_SECONDS,
  workspaceUpdateExpectations,
  worstCasePolls,
} from '../../lib/poll.ts';

/**
 * The rules of the poll schedule (lib/poll.ts) that the broader tests of tests/poll/poll.test.ts leave
 * loose: where the first look falls within a range, which ranges count, how each step reads its result.
 */

const MINUTE = 60_000;
const NONE = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, jobs: 0 };
const NO_STOP = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, runs: 0 };

/**
 * One item equally likely done anywhere in the `L` seconds left of its range: h = 1 / (L − s), so looks have
 * density 1 / √(2c(L − s)) and the first one is where that adds up to one look, √(2cL) − √(2c(L − x)) = √c,
 * that is x = √(2L) − ½ for c = 1 (POLL_COST_SECONDS).
 */
const firstLookOfOne = (L: number) => Math.ceil(Math.sqrt(2 * L) - 0.5);

describe('Where the first look falls while work is within its typical range', () => {
  it('looks at √(2cL) − c/2 into what is left of a single item’s range', () => {
    // Prepare: the restore loop (5 s to 10 min), one item of range [0, L]
    const wait = (L: number, elapsedSeconds = 0) =>
      nextCheckSeconds({ loop: 'restore', elapsedSeconds, expected: [{ from: 0, to: L, count: 1 }] });
    // Assess
    for (const L of [120, 300, 900, 1800]) expect(wait(L)).toBe(firstLookOfOne(L));
    expect([120, 300, 900, 1800].map((L) => wait(L))).toEqual([15, 24, 42, 60]);
    // 200 s in, 300 s of the range left: counted from now, not from the start of the range
    expect(wait(500, 200)).toBe(firstLookOfOne(300));
  });

  it('does not look before the slowest kind can be done (warehouses 1-3 min, clusters 3-7 min)', () => {
    // Act
    const wait = nextCheckSeconds({
      loop: 'restore',
      elapsedSeconds: 0,
      expected: restoreExpectations({ ...NONE, clusters: 2, warehouses: 2 }, 0),
    });
    // Assess: later than the clusters' earliest end, the warehouses' latest
    expect(wait).toBeGreaterThan(TYPICAL_SECONDS.clusterStart[0]);
    expect(wait).toBeLessThanOrEqual(TYPICAL_SECONDS.clusterStart[1]);
  });

  it('looks at the end of the range when many items are left, whose slowest ends there', () => {
    // Act
    const stopping = (clusters: number, elapsedSeconds: number) =>
      nextCheckSeconds({
        loop: 'stop',
        elapsedSeconds,
        expected: stopExpectations({ ...NO_STOP, clusters }, elapsedSeconds),
      });
    const starting = nextCheckSeconds({
      loop: 'restore',
      elapsedSeconds: 300,
      expected: restoreExpectations({ ...NONE, clusters: 600 }, 300),
    });
    // Assess: the end of the ranges (120 s, 420 s) less the time already passed
    expect(stopping(100, 100)).toBe(20);
    expect(stopping(600, 30)).toBe(90);
    expect(starting).toBe(120);
  });

  it('leaves out a kind whose range has just ended: the others set the schedule', () => {
    // Prepare: 60 s into a stop, the warehouse's range (20-60 s) has just ended, the cluster's has 60 s left
    const wait = (warehouses: number) =>
      nextCheckSeconds({
        loop: 'stop',
        elapsedSeconds: 60,
        expected: stopExpectations({ ...NO_STOP, clusters: 1, warehouses }, 60),
      });
    // Assess
    expect(wait(1)).toBe(wait(0));
    expect(wait(1)).toBe(firstLookOfOne(60));
  });

  it('backs off from the latest expected end once everything is overdue', () => {
    // Act: 150 s into a stop, a warehouse (ends by 60 s) and a pipeline (by 90 s) still stopping
    const wait = nextCheckSeconds({
      loop: 'stop',
      elapsedSeconds: 150,
      expected: stopExpectations({ ...NO_STOP, warehouses: 1, pipelines: 1 }, 150),
    });
    // Assess: a quarter of the 60 s past the pipeline's end
    expect(wait).toBe(15);
  });
});

describe('The lease bound', () => {
  it('ignores a lease that is not a positive number of minutes', () => {
    // Prepare
    const drain = (leaseMinutes?: number) =>
      nextCheckSeconds({
        loop: 'drain',
        elapsedSeconds: 0,
        expected: [{ ...NO_EXPECTATION, count: 1 }],
        ...(leaseMinutes === undefined ? {} : { leaseMinutes }),
      });
    // Assess
    expect(drain(0)).toBe(drain());
    expect(drain(0)).toBe(POLL_LOOPS.drain.minSeconds);
    expect(pollFloorSeconds('update', 0, 0)).toBe(POLL_LOOPS.update.minSeconds);
    expect(worstCasePolls('storageWait', 20, 0)).toBe(21);
    expect(worstCasePolls('storageWait', 20, -5)).toBe(21);
  });
});

describe('What each phase expects', () => {
  it('expects each kind being stopped within its own range, a pool while clusters run within its own', () => {
    // Act
    const expected = stopExpectations({ clusters: 3, pools: 2, warehouses: 1, pipelines: 1, runs: 2 }, 30);
    // Assess
    expect(expected).toEqual([
      { from: 30, to: 120, count: 3 },
      { from: 20, to: 60, count: 1 },
      { from: 30, to: 90, count: 1 },
      { from: 5, to: 30, count: 2 },
      { from: 10, to: 60, count: 2 },
    ]);
  });

  it('expects a pool to release its instances within a minute from now once no cluster is left', () => {
    // Act
    const expected = stopExpectations({ clusters: 0, pools: 2, warehouses: 0, pipelines: 0 }, 30);
    // Assess: no run counted when none was given
    expect(expected).toEqual([
      { from: 30, to: 120, count: 0 },
      { from: 20, to: 60, count: 0 },
      { from: 30, to: 90, count: 0 },
      { from: 5, to: 30, count: 0 },
      { from: 30, to: 90, count: 2 },
    ]);
  });

  it('expects a pool from now once its own range has passed, even with clusters left', () => {
    // Act
    const pool = (elapsedSeconds: number) =>
      stopExpectations({ ...NO_STOP, clusters: 3, pools: 2 }, elapsedSeconds)[4];
    // Assess
    expect(pool(59)).toEqual({ from: 10, to: 60, count: 2 });
    expect(pool(60)).toEqual({ from: 60, to: 120, count: 2 });
  });

  it('expects starts within their ranges, pool settings and schedules within the shortest wait', () => {
    // Act
    const expected = restoreExpectations(
      { clusters: 2, pools: 2, warehouses: 1, pipelines: 1, jobs: 3 },
      100,
    );
    // Assess
    expect(expected).toEqual([
      { from: 180, to: 420, count: 2 },
      { from: 60, to: 180, count: 1 },
      { from: 60, to: 240, count: 1 },
      { from: 100, to: 105, count: 5 },
    ]);
  });

  it('expects a workspace update by what the workspace shows, and nothing known when it cannot be read', () => {
    expect(workspaceUpdateExpectations('PROVISIONING')).toEqual([{ from: 300, to: 1200, count: 1 }]);
    expect(workspaceUpdateExpectations('RUNNING')).toEqual([{ from: 300, to: 3600, count: 1 }]);
    expect(workspaceUpdateExpectations(undefined)).toEqual([{ from: 0, to: 0, count: 1 }]);
    expect(workspaceUpdateExpectations('UNKNOWN')).toEqual([{ ...NO_EXPECTATION, count: 1 }]);
  });
});

describe('The waits after the stop steps', () => {
  const now = 10_000_000;
  /** 20 minutes into a stop (its deadline 30 minutes after it was issued). */
  const stopCheck = (result: Partial<Parameters<typeof afterStopCheck>[0]['result']>) =>
    afterStopCheck({
      result: {
        status: 'STOPPING',
        remaining: NO_STOP,
        deadline: now - 1200_000 + 30 * MINUTE,
        ...result,
      },
      drainDeadline: undefined,
      drainTimeoutMinutes: 60,
      stopTimeoutMinutes: 30,
      now,
    });

  it('counts a drain from its deadline less its timeout: 10 minutes in, a quarter of them', () => {
    // Act
    const wait = afterStopCheck({
      result: { status: 'DRAINING', remaining: { ...NO_STOP, runs: 1 }, deadline: now + 30 * MINUTE },
      drainDeadline: now - 600_000 + 60 * MINUTE,
      drainTimeoutMinutes: 60,
      stopTimeoutMinutes: 30,
      now,
    });
    // Assess
    expect(wait).toBe(150);
  });

  it('does not hurry after a throttled turn that found everything stopped', () => {
    expect(stopCheck({ status: 'STOPPED', throttled: true, checkedAt: now - 90_000 })).toBe(60);
  });

  it('counts a turn’s own time toward the floor only when Databricks throttled it', () => {
    // Prepare: a pool releasing its instances (within a minute), the floor a minute 20 minutes in
    const remaining = { ...NO_STOP, pools: 1 };
    // Assess
    expect(stopCheck({ remaining, checkedAt: now - 90_000 })).toBe(60);
    expect(stopCheck({ remaining, throttled: false, checkedAt: now - 90_000 })).toBe(60);
    expect(stopCheck({ remaining, throttled: true, checkedAt: now - 90_000 })).toBe(1);
  });
});

describe('The waits of the workspace update and of recovery', () => {
  const now = 10_000_000;

  it('looks again soon when the new key id already shows or the PATCH was refused', () => {
    expect(afterUpdateSent({ reconciled: 'applied' })).toBe(POLL_LOOPS.update.minSeconds);
    expect(afterUpdateSent({ refused: { reason: 'compute running' } })).toBe(POLL_LOOPS.update.minSeconds);
    expect(afterUpdateSent({ reconciled: 'provisioning' })).toBe(POLL_LOOPS.update.maxSeconds);
  });

  it('looks again soon once the workspace runs on the new key', () => {
    // Act: two minutes after the PATCH
    const wait = afterWorkspaceCheck({
      result: { status: 'RUNNING', workspaceStatus: 'RUNNING' },
      patchedAt: now - 120_000,
      now,
    });
    // Assess
    expect(wait).toBe(POLL_LOOPS.update.minSeconds);
  });

  it('counts recovery from when it began (its deadline less its wait) when no PATCH is known', () => {
    // Act: recovery began 1,190 s ago, the workspace PROVISIONING: near the end of its usual 5-20 minutes
    const wait = afterSettleCheck({
      result: {
        status: 'UPDATING',
        workspaceStatus: 'PROVISIONING',
        deadline: now - 1190_000 + 180 * MINUTE,
      },
      patchedAt: undefined,
      recoveryWaitMinutes: 180,
      now,
    });
    // Assess
    expect(wait).toBe(POLL_LOOPS.recovery.minSeconds);
  });

  it('looks again soon once the workspace settled, and backs off one that cannot be read', () => {
    // Prepare
    const settle = (status: string, workspaceStatus: string, sincePatch: number) =>
      afterSettleCheck({
        result: { status, workspaceStatus, deadline: now + 170 * MINUTE },
        patchedAt: now - sincePatch * 1000,
        recoveryWaitMinutes: 180,
        now,
      });
    // Assess
    expect(settle('SETTLED', 'RUNNING', 600)).toBe(POLL_LOOPS.recovery.minSeconds);
    expect(settle('UPDATING', 'UNKNOWN', 1190)).toBe(POLL_LOOPS.recovery.overdueMaxSeconds);
    expect(settle('UPDATING', 'PROVISIONING', 1190)).toBe(POLL_LOOPS.recovery.minSeconds);
  });
});

describe('The waits of the restore', () => {
  const now = 10_000_000;
  const restoreCheck = (
    result: Partial<Parameters<typeof afterRestoreCheck>[0]['result']>,
    elapsed: number,
  ) =>
    afterRestoreCheck({
      result: { status: 'WAITING', pending: NONE, ...result },
      restoreDeadline: now - elapsed * 1000 + 45 * MINUTE,
      restoreTimeoutMinutes: 45,
      now,
    });

  it('comes at the floor after restore-compute deferred starts, even with clusters starting', () => {
    // Act
    const wait = afterRestoreIssued({
      nothingToRestore: false,
      started: { ...NONE, clusters: 10 },
      failedCount: 0,
      deferred: 3,
    });
    // Assess
    expect(wait).toBe(POLL_LOOPS.restore.minSeconds);
  });

  it('comes by the earliest of what is due: deferred starts before a failed start’s retry', () => {
    // Act
    const wait = afterRestoreIssued({
      nothingToRestore: false,
      started: { ...NONE, clusters: 3 },
      failedCount: 1,
      deferred: 2,
    });
    // Assess
    expect(wait).toBe(POLL_LOOPS.restore.minSeconds);
  });

  it('honours the earliest of several retries of failed starts', () => {
    // Act: 200 s in, one cluster starting, retries due in 7 s and 30 s
    const wait = restoreCheck(
      { pending: { ...NONE, clusters: 1 }, retrying: [{ nextAt: now + 7_000 }, { nextAt: now + 30_000 }] },
      200,
    );
    // Assess
    expect(wait).toBe(7);
  });

  it('looks again at the shortest wait once restored, whatever was throttled or is still listed', () => {
    // Assess: a throttled turn of 20 s that found everything restored
    expect(restoreCheck({ status: 'RESTORED', throttled: true, checkedAt: now - 20_000 }, 100)).toBe(
      POLL_LOOPS.restore.minSeconds,
    );
    // A restored check ignores what its pending counts still list
    expect(restoreCheck({ status: 'RESTORED', pending: { ...NONE, clusters: 2 } }, 100)).toBe(
      POLL_LOOPS.restore.minSeconds,
    );
  });

  it('counts a turn’s own time toward the floor only when Databricks throttled it', () => {
    // Prepare: an hour in (the floor a minute), a pool setting just put back (due within 5 s)
    const pending = { ...NONE, pools: 1 };
    // Assess
    expect(restoreCheck({ pending, checkedAt: now - 114_000 }, 3600)).toBe(60);
    expect(restoreCheck({ pending, throttled: true, checkedAt: now - 114_000 }, 3600)).toBe(1);
  });
});
