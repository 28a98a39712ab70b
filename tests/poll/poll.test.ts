import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterRestoreCheck,
  afterRestoreIssued,
  afterSettleCheck,
  afterStopCheck,
  afterStopIssued,
  afterUpdateSent,
  afterWorkspaceCheck,
  type Expected,
  NO_EXPECTATION,
  nextCheckSeconds,
  POLL_LOOPS,
  type PollLoop,
  pollFloorSeconds,
  restoreExpectations,
  stopExpectations,
  TYPICAL_SECONDS,
  worstCasePolls,
} from '../../lib/poll.ts';

const LOOPS = Object.keys(POLL_LOOPS) as PollLoop[];
const NONE = { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, jobs: 0 };
const MINUTE = 60_000;

const expectedArb: fc.Arbitrary<Expected> = fc
  .record({ from: fc.integer({ min: 0, max: 4000 }), span: fc.integer({ min: 0, max: 4000 }) })
  .chain(({ from, span }) =>
    fc.record({
      from: fc.constant(from),
      to: fc.constant(from + span),
      count: fc.integer({ min: 0, max: 1000 }),
    }),
  );
const situationArb = fc.record({
  loop: fc.constantFrom(...LOOPS),
  elapsedSeconds: fc.double({ min: 0, max: 30_000, noNaN: true }),
  expected: fc.array(expectedArb, { maxLength: 5 }),
  dueInSeconds: fc.option(fc.double({ min: 0, max: 3000, noNaN: true }), { nil: undefined }),
  leaseMinutes: fc.option(fc.integer({ min: 5, max: 1500 }), { nil: undefined }),
});

describe('nextCheckSeconds', () => {
  it('waits out what is expected: no look before the slowest start can be done', () => {
    // Act: restore just started four clusters (3-7 minutes each)
    const wait = nextCheckSeconds({
      loop: 'restore',
      elapsedSeconds: 0,
      expected: restoreExpectations({ ...NONE, clusters: 4 }, 0),
    });
    // Assess: not before the typical start, and by its end at the latest
    expect(wait).toBeGreaterThan(TYPICAL_SECONDS.clusterStart[0]);
    expect(wait).toBeLessThanOrEqual(TYPICAL_SECONDS.clusterStart[1]);
  });

  it('awaits the slowest of many near the end of their range', () => {
    // Act: 600 clusters terminating, one look
    const wait = nextCheckSeconds({
      loop: 'stop',
      elapsedSeconds: 0,
      expected: stopExpectations({ clusters: 600, pools: 0, warehouses: 0, pipelines: 0 }, 0),
    });
    // Assess
    expect(wait).toBeGreaterThanOrEqual(TYPICAL_SECONDS.clusterTerminate[1] - 5);
    expect(wait).toBeLessThanOrEqual(TYPICAL_SECONDS.clusterTerminate[1]);
  });

  it('looks more often as the expected end comes near', () => {
    // Prepare: one cluster still terminating
    const at = (elapsedSeconds: number) =>
      nextCheckSeconds({
        loop: 'stop',
        elapsedSeconds,
        expected: stopExpectations({ clusters: 1, pools: 0, warehouses: 0, pipelines: 0 }, elapsedSeconds),
      });
    // Act
    const waits = [30, 60, 90, 110].map(at);
    // Assess
    expect(waits).toEqual([...waits].sort((a, b) => b - a));
    expect(waits[0]).toBeGreaterThan(waits[3] ?? 0);
    expect(at(115)).toBe(POLL_LOOPS.stop.minSeconds);
  });

  it('looks again soon when nothing is on its way (to confirm it)', () => {
    expect(nextCheckSeconds({ loop: 'stop', elapsedSeconds: 0, expected: [] })).toBe(
      POLL_LOOPS.stop.minSeconds,
    );
    expect(afterUpdateSent({ alreadyApplied: true })).toBe(POLL_LOOPS.update.minSeconds);
    expect(afterRestoreIssued({ nothingToRestore: true, started: NONE, failedCount: 0 }, 30)).toBe(
      POLL_LOOPS.restore.minSeconds,
    );
  });

  it('backs off once overdue, up to its bound', () => {
    // Prepare: a cluster still terminating past its typical 2 minutes
    const at = (elapsedSeconds: number) =>
      nextCheckSeconds({
        loop: 'stop',
        elapsedSeconds,
        expected: stopExpectations({ clusters: 1, pools: 0, warehouses: 0, pipelines: 0 }, elapsedSeconds),
      });
    // Assess
    expect(at(125)).toBe(POLL_LOOPS.stop.minSeconds);
    expect(at(280)).toBe(40);
    expect(at(3000)).toBe(POLL_LOOPS.stop.overdueMaxSeconds);
  });

  it('backs off a drain from its first two minutes, whose end cannot be foreseen', () => {
    // Act
    const waits = [0, 600, 3600].map((e) =>
      nextCheckSeconds({ loop: 'drain', elapsedSeconds: e, expected: [{ ...NO_EXPECTATION, count: 1 }] }),
    );
    // Assess
    expect(waits).toEqual([120, 150, 300]);
  });

  it('comes in time for a failed start that is tried again', () => {
    // Act: clusters starting, one start failed and is due again in 20 s
    const wait = afterRestoreIssued({
      nothingToRestore: false,
      started: { ...NONE, clusters: 3 },
      failedCount: 1,
    });
    // Assess
    expect(wait).toBe(20);
  });

  it('guards the storage wait every minute and looks last exactly when it ends', () => {
    const now = 1_000_000;
    const waitWhenEndsIn = (untilInSeconds: number) =>
      afterStopCheck({
        result: {
          status: 'STOPPED',
          remaining: { clusters: 0, pools: 0, warehouses: 0, pipelines: 0 },
          deadline: now,
          storageWaitUntil: now + untilInSeconds * 1000,
        },
        drainDeadline: undefined,
        drainTimeoutMinutes: 60,
        stopTimeoutMinutes: 30,
        now,
      });
    expect(waitWhenEndsIn(1200)).toBe(60);
    expect(waitWhenEndsIn(42)).toBe(42);
    expect(waitWhenEndsIn(0.4)).toBe(1);
  });

  it('never waits more than a minute while compute must stay stopped (DESIGN §6.5)', () => {
    fc.assert(
      fc.property(situationArb, fc.constantFrom<PollLoop>('update', 'recovery', 'storageWait'), (s, loop) => {
        expect(nextCheckSeconds({ ...s, loop })).toBeLessThanOrEqual(60);
      }),
    );
  });

  it('keeps every wait within a third of the lock lease the checks renew', () => {
    // Act: restore expects minutes of starts, but the lease is 5 minutes
    const wait = nextCheckSeconds({
      loop: 'restore',
      elapsedSeconds: 0,
      expected: restoreExpectations({ ...NONE, clusters: 4 }, 0),
      leaseMinutes: 5,
    });
    // Assess
    expect(wait).toBe(100);
  });

  it('never waits less than the floor the history budget counts on, nor more than the loop allows', () => {
    fc.assert(
      fc.property(situationArb, (s) => {
        const wait = nextCheckSeconds(s);
        expect(Number.isInteger(wait)).toBe(true);
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(wait).toBeGreaterThanOrEqual(pollFloorSeconds(s.loop, s.elapsedSeconds, s.leaseMinutes));
        expect(wait).toBeLessThanOrEqual(Math.max(1, POLL_LOOPS[s.loop].maxSeconds));
      }),
      { numRuns: 500 },
    );
  });
});

describe('pollFloorSeconds and worstCasePolls', () => {
  it('never lowers the floor as time goes on', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...LOOPS),
        fc.double({ min: 0, max: 20_000, noNaN: true }),
        fc.double({ min: 0, max: 20_000, noNaN: true }),
        (loop, a, b) => {
          expect(pollFloorSeconds(loop, Math.max(a, b))).toBeGreaterThanOrEqual(
            pollFloorSeconds(loop, Math.min(a, b)),
          );
        },
      ),
    );
  });

  it('counts at least as many looks as any run of checks can make before the deadline', () => {
    // Prepare: whatever the checks see at each look (random kinds, counts, retries), and a random deadline
    fc.assert(
      fc.property(
        fc.constantFrom<PollLoop>('drain', 'stop', 'update', 'recovery', 'restore'),
        fc.integer({ min: 1, max: 240 }),
        fc.infiniteStream(fc.array(expectedArb, { maxLength: 4 })),
        fc.infiniteStream(fc.option(fc.double({ min: 0, max: 600, noNaN: true }), { nil: undefined })),
        (loop, minutes, seen, due) => {
          // Act: look until the deadline has passed, as the loop does
          let looks = 1;
          for (let e = 0; e <= minutes * 60; looks++) {
            const dueInSeconds = due.next().value;
            e += nextCheckSeconds({
              loop,
              elapsedSeconds: e,
              expected: seen.next().value,
              ...(dueInSeconds === undefined ? {} : { dueInSeconds }),
            });
          }
          // Assess
          expect(looks).toBeLessThanOrEqual(worstCasePolls(loop, minutes));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('counts the storage wait as one look a minute and one at its start', () => {
    expect(worstCasePolls('storageWait', 20)).toBe(21);
    expect(worstCasePolls('storageWait', 0)).toBe(1);
  });

  it('counts far fewer looks than the fixed intervals did for the default deadlines', () => {
    // The fixed intervals: stop every 15 s, workspace update every 30 s, restore every 20 s.
    expect(worstCasePolls('stop', 30)).toBeLessThan((30 * 60) / 15);
    expect(worstCasePolls('update', 120)).toBeLessThan((120 * 60) / 30);
    expect(worstCasePolls('restore', 45)).toBeLessThan((45 * 60) / 20);
  });
});

describe('The steps’ waits', () => {
  it('starts the drain two minutes out, and the stop from what ran', () => {
    const counts = { clusters: 6, pools: 2, warehouses: 2, pipelines: 1, runs: 1 };
    expect(afterStopIssued({ phase: 'draining', counts })).toBe(120);
    const stop = afterStopIssued({ phase: 'stopping', counts: { ...counts, runs: 0 } });
    expect(stop).toBeGreaterThan(TYPICAL_SECONDS.clusterTerminate[0]);
    expect(stop).toBeLessThanOrEqual(TYPICAL_SECONDS.clusterTerminate[1]);
  });

  it('checks as soon as it may after stops Databricks throttled, and right after a throttled stop turn', () => {
    const counts = { clusters: 6, pools: 2, warehouses: 2, pipelines: 1, runs: 0 };
    expect(afterStopIssued({ phase: 'stopping', counts, deferred: 3 })).toBe(POLL_LOOPS.stop.minSeconds);
    const now = 10_000_000;
    const check = (result: { throttled?: boolean; checkedAt?: number }) =>
      afterStopCheck({
        result: {
          status: 'STOPPING',
          remaining: { clusters: 1, pools: 0, warehouses: 0, pipelines: 0, runs: 0 },
          deadline: now - 1200_000 + 30 * MINUTE,
          ...result,
        },
        drainDeadline: undefined,
        drainTimeoutMinutes: 60,
        stopTimeoutMinutes: 30,
        now,
      });
    // 20 minutes in, one cluster overdue: a look a minute
    expect(check({})).toBe(60);
    // The turn spent 90 s waiting out 429s: the next one at once
    expect(check({ throttled: true, checkedAt: now - 90_000 })).toBe(1);
    // A short throttled turn: the looks still a minute apart from their starts
    expect(check({ throttled: true, checkedAt: now - 15_000 })).toBe(45);
  });

  it('checks within 20 s after cancelling runs: that check stops their job clusters', () => {
    const counts = { clusters: 6, pools: 2, warehouses: 2, pipelines: 1, runs: 2 };
    expect(afterStopIssued({ phase: 'stopping', counts })).toBeLessThanOrEqual(20);
  });

  it('counts the stop from when it was issued: the stop deadline less its timeout', () => {
    // Prepare: a stop issued 200 s ago, one cluster still terminating (overdue by 80 s)
    const now = 10_000_000;
    const wait = afterStopCheck({
      result: {
        status: 'STOPPING',
        remaining: { clusters: 1, pools: 0, warehouses: 0, pipelines: 0, runs: 0 },
        deadline: now - 200_000 + 30 * MINUTE,
      },
      drainDeadline: undefined,
      drainTimeoutMinutes: 60,
      stopTimeoutMinutes: 30,
      now,
    });
    // Assess
    expect(wait).toBe(20);
  });

  it('counts a drain from when it began: its deadline less the drain timeout', () => {
    const now = 10_000_000;
    const wait = afterStopCheck({
      result: {
        status: 'DRAINING',
        remaining: { clusters: 0, pools: 0, warehouses: 0, pipelines: 0, runs: 2 },
        deadline: now + 30 * MINUTE,
      },
      drainDeadline: now - 1200_000 + 60 * MINUTE,
      drainTimeoutMinutes: 60,
      stopTimeoutMinutes: 30,
      now,
    });
    expect(wait).toBe(300);
  });

  it('waits for a PROVISIONING workspace at most a minute at a time, and more often near its usual end', () => {
    const patchedAt = 1_000_000;
    const at = (seconds: number, workspaceStatus: string) =>
      afterWorkspaceCheck({
        result: { status: 'WAITING', workspaceStatus },
        patchedAt,
        now: patchedAt + seconds * 1000,
      });
    expect(afterUpdateSent({})).toBe(60);
    expect(at(120, 'PROVISIONING')).toBe(60);
    expect(at(1150, 'PROVISIONING')).toBeLessThan(15);
    expect(at(1150, 'RUNNING')).toBe(60);
  });

  it('counts recovery from the PATCH when there was one', () => {
    const now = 10_000_000;
    const settle = (patchedAt: number | undefined) =>
      afterSettleCheck({
        result: { status: 'UPDATING', workspaceStatus: 'PROVISIONING', deadline: now + 170 * MINUTE },
        patchedAt,
        recoveryWaitMinutes: 180,
        now,
      });
    // 1,190 s after the PATCH, PROVISIONING is near its usual end; 10 minutes into recovery, it is not
    expect(settle(now - 1190_000)).toBeLessThan(15);
    expect(settle(undefined)).toBeGreaterThan(30);
  });

  it('counts the restore from when it was issued, and honours the next retry of a failed start', () => {
    const now = 10_000_000;
    const check = (retrying?: Array<{ nextAt: number }>) =>
      afterRestoreCheck({
        result: { status: 'WAITING', pending: { ...NONE, clusters: 1 }, retrying },
        restoreDeadline: now - 200_000 + 45 * MINUTE,
        restoreTimeoutMinutes: 45,
        now,
      });
    // 200 s after the starts, one cluster left: it may end any time until 420 s
    expect(check()).toBeGreaterThan(10);
    expect(check()).toBeLessThanOrEqual(25);
    expect(check([{ nextAt: now + 7_000 }])).toBe(7);
  });

  it('follows a restore turn Databricks throttled at once, its own time counting toward the floor', () => {
    const now = 10_000_000;
    const check = (result: Partial<Parameters<typeof afterRestoreCheck>[0]['result']>, elapsed: number) =>
      afterRestoreCheck({
        result: { status: 'WAITING', pending: { ...NONE, clusters: 50 }, ...result },
        restoreDeadline: now - elapsed * 1000 + 45 * MINUTE,
        restoreTimeoutMinutes: 45,
        now,
      });
    // An hour in, everything overdue: the floor is a minute between looks
    expect(check({}, 3600)).toBe(60);
    // The turn spent 114 s waiting out 429s: the next one comes at once
    expect(check({ throttledKinds: ['cluster'], checkedAt: now - 114_000 }, 3600)).toBe(1);
    expect(check({ throttled: true, checkedAt: now - 114_000 }, 3600)).toBe(1);
    // A short throttled turn still keeps the looks a minute apart
    expect(check({ throttledKinds: ['cluster'], checkedAt: now - 20_000 }, 3600)).toBe(40);
    // After restore-compute: starts it deferred are made at the next turn, soon
    expect(afterRestoreIssued({ nothingToRestore: false, started: NONE, failedCount: 0, deferred: 40 })).toBe(
      5,
    );
    expect(
      afterRestoreIssued({ nothingToRestore: false, started: { ...NONE, clusters: 10 }, failedCount: 0 }),
    ).toBeGreaterThan(100);
  });
});
