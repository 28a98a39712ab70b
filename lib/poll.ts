/**
 * When to look next: the poll schedule of rotate-one-workspace's loops. Each check returns
 * `nextCheckSeconds` and the following Wait state waits that long (`SecondsPath`).
 *
 * Why not a fixed interval: a short one costs state transitions, Lambda invocations and API calls (one
 * turn of Wait → Check → Choice is three transitions and nine history events) for looks that cannot find
 * anything yet, and a long one leaves compute stopped after the platform is done (DESIGN §9: the compute
 * window should stay close to what the platform itself imposes). The platform's durations are not known in
 * advance, but their typical ranges are (`TYPICAL_SECONDS`), and each check sees what is still on its way.
 *
 * The rule, per loop:
 * - **wait out what is expected**: nothing is looked at before the work still in flight can usually be done
 *   (a look then can only find it still running);
 * - **look more often near the expected end**: each item still on its way is taken as equally likely done
 *   anywhere in what is left of its typical range; looks are placed with density √(h / 2c), h the chance per
 *   second that the last item ends now. That spacing minimises the expected delay after completion plus `c`
 *   seconds per look (`POLL_COST_SECONDS`): where completion is unlikely (early in the range, or while many
 *   items are left, the slowest of which ends late) looks are far apart, and they come closer as the end of
 *   the range comes near (for one item, √(2·c·(end − t)) apart);
 * - **back off once overdue** (or when nothing is known, e.g. a drain): wait a fraction of the time past the
 *   end of the range (`overdueFraction`), so a slow phase costs few looks;
 * - **bounds**: never less than `minSeconds`; never more than `maxSeconds` — while compute must stay stopped
 *   (from the PATCH to the end of the storage wait, DESIGN §6.5) at most 60 s, so that what someone starts
 *   is stopped again within a minute — nor than a third of the workspace lock's lease, which the checks
 *   renew.
 *
 * The history budget (DESIGN §6.10, lib/plan/history-budget.ts) rests on one property, enforced here by
 * construction: every look begins at least `pollFloorSeconds(loop, elapsed)` after the one before it began
 * (the wait after a check, plus the time that check took when it spent it waiting out Databricks' 429s:
 * `busySeconds`), a non-decreasing function of the time since the loop's phase began — `minSeconds` until
 * `tightUntilSeconds` (the end of the latest typical range the loop expects), `overdueFraction` of the time
 * past it after that. `worstCasePolls` counts the looks that floor allows, whatever the checks see.
 */

/**
 * What the platform usually takes, in seconds from the call that starts it until the loop sees it done
 * (Databricks documentation and observation; the local emulator's default timings use the same ranges).
 */
export const TYPICAL_SECONDS = {
  /** A cluster is TERMINATING for about 1-2 minutes. */
  clusterTerminate: [30, 120],
  warehouseStop: [20, 60],
  pipelineStop: [30, 90],
  /** Idle instances of a pool released after its idle settings went to 0 (or after its clusters ended). */
  poolIdleRelease: [10, 60],
  /** A cancelled job run is TERMINATING for a few seconds. */
  runCancel: [5, 30],
  /** A classic cluster starts in about 3-7 minutes. */
  clusterStart: [180, 420],
  /** A classic or pro SQL warehouse starts in about 1-3 minutes. */
  warehouseStart: [60, 180],
  pipelineStart: [60, 240],
  /** A Databricks-managed VPC workspace is PROVISIONING for several minutes (up to about 20) after a key change. */
  workspaceUpdate: [300, 1200],
  /** A customer-managed VPC workspace stays RUNNING while the key id changes, which can take up to an hour. */
  workspaceUpdateCustomerNetwork: [300, 3600],
} as const satisfies Record<string, readonly [number, number]>;

/**
 * Seconds of compute window one look is worth avoiding (the `c` above). Larger: fewer looks, a later look
 * after completion; smaller: the reverse. Measured with the local runner over 21 seeds of the
 * rotate-managed-services scenario (mean state transitions of the whole execution / compute window over the
 * platform's minimum): c = 0.25 → 164 / 1.018, 0.5 → 136 / 1.023, 1 → 115 / 1.025, 2 → 99 / 1.041,
 * 5 → 88 / 1.049; fixed intervals before it: 220 / 1.035. Most of what is left is the workspace update,
 * whose 5-20 minutes give no earlier sign of their end, looked at no less than once a minute.
 */
export const POLL_COST_SECONDS = 1;

export type PollLoop = 'drain' | 'stop' | 'update' | 'recovery' | 'storageWait' | 'restore';

export interface PollLoopSchedule {
  /** The shortest wait. */
  minSeconds: number;
  /** The longest wait (while the work in flight cannot be done yet). */
  maxSeconds: number;
  /** The longest wait once everything expected is overdue. */
  overdueMaxSeconds: number;
  /** Once overdue (or when nothing is known), wait this fraction of the time past the expected end. */
  overdueFraction: number;
  /** Until then, looks may come `minSeconds` apart; the latest end of the typical ranges the loop expects. */
  tightUntilSeconds: number;
}

/** The loops of rotate-one-workspace (statemachines/rotate-one-workspace.asl.json) and their bounds. */
export const POLL_LOOPS: Record<PollLoop, PollLoopSchedule> = {
  /**
   * Active runs drained (activeRuns "wait"): their end cannot be foreseen, so back off from the start. The
   * schedules are paused meanwhile, but nothing is stopped yet: the drain is before the compute window, so
   * a look every 2 minutes (not every minute) costs no downtime, only up to a minute more of rotation, and
   * saves a turn (3 transitions) per 2 minutes of drain.
   */
  drain: {
    minSeconds: 120,
    maxSeconds: 300,
    overdueMaxSeconds: 300,
    overdueFraction: 0.25,
    tightUntilSeconds: 0,
  },
  /** Stopping, before the PATCH: nothing is updating yet, so what starts meanwhile harms nothing. */
  stop: {
    minSeconds: 5,
    maxSeconds: 120,
    overdueMaxSeconds: 60,
    overdueFraction: 0.25,
    tightUntilSeconds: TYPICAL_SECONDS.clusterTerminate[1] + TYPICAL_SECONDS.poolIdleRelease[1],
  },
  /**
   * After the PATCH: also the guard that stops again what starts while the workspace updates (≤ 60 s).
   * Looks no closer than 10 s: the update is one long wait, and its worst case stays below the fixed 30 s.
   */
  update: {
    minSeconds: 10,
    maxSeconds: 60,
    overdueMaxSeconds: 60,
    overdueFraction: 0.25,
    tightUntilSeconds: TYPICAL_SECONDS.workspaceUpdate[1],
  },
  /** Recovery waits for a workspace that may still be updating; guarded like the update. */
  recovery: {
    minSeconds: 10,
    maxSeconds: 60,
    overdueMaxSeconds: 60,
    overdueFraction: 0.25,
    tightUntilSeconds: TYPICAL_SECONDS.workspaceUpdate[1],
  },
  /**
   * The storage wait has a known end: a guard look every minute (what starts is stopped again within a
   * minute), the last one exactly at the end. See `worstCasePolls`.
   */
  storageWait: {
    minSeconds: 1,
    maxSeconds: 60,
    overdueMaxSeconds: 60,
    overdueFraction: 0,
    tightUntilSeconds: 0,
  },
  /** Restoring: starts take minutes; nothing needs guarding, so the first look may wait for them. */
  restore: {
    minSeconds: 5,
    maxSeconds: 600,
    overdueMaxSeconds: 60,
    overdueFraction: 0.25,
    tightUntilSeconds: TYPICAL_SECONDS.clusterStart[1],
  },
};

/**
 * Work in flight: `count` items of one kind, each usually done between `from` and `to` seconds after the
 * phase began (`NO_EXPECTATION`: nothing is known, back off from the start).
 */
export interface Expected {
  from: number;
  to: number;
  count: number;
}

/** Work whose duration cannot be foreseen (job runs being drained, a workspace that cannot be read). */
export const NO_EXPECTATION = { from: 0, to: 0 } as const;

export interface PollSituation {
  loop: PollLoop;
  /** Seconds since the loop's phase began (the stop, the PATCH, the restore was issued). */
  elapsedSeconds: number;
  /** What is still on its way. Empty: nothing is (look again soon, to confirm). */
  expected: readonly Expected[];
  /** Seconds from now by which a look is due anyway (a start to retry, the end of the storage wait). */
  dueInSeconds?: number;
  /** The workspace lock's lease (LOCK_LEASE_MINUTES): the checks renew it, so they come well within it. */
  leaseMinutes?: number;
  /**
   * Seconds the check itself has just taken (a turn that waited out Databricks' 429s): counted toward the
   * floor, which spaces the starts of the looks, so a long turn is followed by a shorter wait.
   */
  busySeconds?: number;
}

/**
 * Seconds to wait before the next check (a whole number, at least 1): see the module comment. Pure: the
 * same situation gives the same wait.
 */
export function nextCheckSeconds(situation: PollSituation): number {
  const schedule = POLL_LOOPS[situation.loop];
  const e = Math.max(0, finite(situation.elapsedSeconds));
  const max = maxWaitSeconds(situation.loop, situation.leaseMinutes);
  // The floor spaces the starts of the looks (what `worstCasePolls` counts): a turn's own time counts.
  const floor = Math.max(
    1,
    pollFloorSeconds(situation.loop, e, situation.leaseMinutes) -
      Math.max(0, finite(situation.busySeconds ?? 0)),
  );
  const pending = situation.expected.filter((x) => x.count > 0);
  let want: number;
  if (pending.length === 0) {
    want = situation.dueInSeconds ?? schedule.minSeconds;
  } else {
    const inRange = nextWithinRanges(pending, e);
    if (inRange !== undefined) {
      want = inRange;
    } else {
      const overdueFor = e - Math.max(...pending.map((x) => x.to));
      want = Math.min(schedule.overdueMaxSeconds, schedule.overdueFraction * overdueFor);
    }
  }
  if (situation.dueInSeconds !== undefined) want = Math.min(want, situation.dueInSeconds);
  return Math.max(1, Math.ceil(Math.min(max, Math.max(floor, finite(want)))));
}

/**
 * The shortest wait the schedule ever gives `elapsedSeconds` into a loop's phase, whatever the checks see:
 * `minSeconds` until `tightUntilSeconds`, then `overdueFraction` of the time past it, within the bounds.
 * Non-decreasing in the elapsed time (which `worstCasePolls` relies on).
 */
export function pollFloorSeconds(loop: PollLoop, elapsedSeconds: number, leaseMinutes?: number): number {
  const s = POLL_LOOPS[loop];
  const max = Math.min(s.overdueMaxSeconds, maxWaitSeconds(loop, leaseMinutes));
  if (elapsedSeconds < s.tightUntilSeconds) return Math.min(s.minSeconds, max);
  return Math.min(max, Math.max(s.minSeconds, s.overdueFraction * (elapsedSeconds - s.tightUntilSeconds)));
}

/**
 * The most checks a loop can make in `minutes` (its deadline setting), plus the one that finds the deadline
 * passed: the looks `pollFloorSeconds` allows. The storage wait's end is known, so it is exact: one look per
 * `maxSeconds`, and the first one as soon as the workspace runs on the new key.
 */
export function worstCasePolls(loop: PollLoop, minutes: number, leaseMinutes?: number): number {
  const total = Math.max(0, minutes) * 60;
  if (loop === 'storageWait') return Math.ceil(total / maxWaitSeconds(loop, leaseMinutes)) + 1;
  let polls = 1;
  for (let e = 0; e <= total; polls++) e += Math.max(1, Math.ceil(pollFloorSeconds(loop, e, leaseMinutes)));
  return polls;
}

/** The longest single wait of a loop: its own bound, and a third of the lease the checks renew. */
function maxWaitSeconds(loop: PollLoop, leaseMinutes: number | undefined): number {
  const own = POLL_LOOPS[loop].maxSeconds;
  return leaseMinutes === undefined || !(leaseMinutes > 0)
    ? own
    : Math.max(1, Math.min(own, (leaseMinutes * 60) / 3));
}

/** Steps of the numerical integration in `nextWithinRanges` (fine enough for the slowest of 1,000 items). */
const STEPS = 2048;

/**
 * Seconds from `e` to the next look while some work is within its typical range (`undefined`: everything is
 * past it). Each item still on its way is taken as equally likely done anywhere in what is left of its range
 * (`max(e, from)` to `to`), independently, so "all done by t" has the probability F(t) = Π u(t)^count, where
 * u is the share of its range that has passed (work past its range is left out: it may end any moment).
 * Looks are placed with density √(h(t) / 2c), h = F′ / (1 − F) the chance per second that the last one ends
 * now: the spacing that minimises the expected delay plus `c` seconds per look (`POLL_COST_SECONDS`). So
 * nothing is looked at before the earliest end is possible, the slowest of many is awaited near the end of
 * its range, and looks come closer as that end comes near. The next look is where that density adds up to
 * one look, and at the end of the ranges at the latest.
 */
function nextWithinRanges(pending: readonly Expected[], e: number): number | undefined {
  const ranges = pending
    .map((x) => ({ a: Math.max(e, x.from), b: x.to, k: Math.max(1, x.count) }))
    .filter((r) => r.a < r.b);
  if (ranges.length === 0) return undefined;
  const end = Math.max(...ranges.map((r) => r.b));
  const allDoneBy = (t: number) =>
    ranges.reduce((p, r) => p * Math.min(1, Math.max(0, (t - r.a) / (r.b - r.a))) ** r.k, 1);
  const dt = (end - e) / STEPS;
  let looks = 0;
  let before = allDoneBy(e);
  for (let i = 1; i <= STEPS; i++) {
    const t = e + i * dt;
    const after = allDoneBy(t);
    const survival = Math.max(1e-12, 1 - (before + after) / 2);
    const step = Math.sqrt((Math.max(0, after - before) * dt) / (2 * POLL_COST_SECONDS * survival));
    if (looks + step >= 1) return t - e - (dt * (looks + step - 1)) / step;
    looks += step;
    before = after;
  }
  return end - e;
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

// ------------------------------------------------------------------------------------------------ phases

const range = (r: readonly [number, number], count: number): Expected => ({ from: r[0], to: r[1], count });

/** Counts of what the stop check found still running (`item.computeCheck.remaining`, or what ran). */
export interface StopPending {
  clusters: number;
  pools: number;
  warehouses: number;
  pipelines: number;
  runs?: number | undefined;
}

/**
 * What the stop still waits for, `elapsedSeconds` after the stop was issued. A pool keeps instances until
 * the clusters using them have ended: once no cluster is left (or its own range has passed), a pool still
 * holding instances is expected to release them within `poolIdleRelease` from now.
 */
export function stopExpectations(pending: StopPending, elapsedSeconds: number): Expected[] {
  const t = TYPICAL_SECONDS;
  const poolsAfterClusters = pending.clusters === 0 || elapsedSeconds >= t.poolIdleRelease[1];
  return [
    range(t.clusterTerminate, pending.clusters),
    range(t.warehouseStop, pending.warehouses),
    range(t.pipelineStop, pending.pipelines),
    range(t.runCancel, pending.runs ?? 0),
    poolsAfterClusters
      ? { from: elapsedSeconds, to: elapsedSeconds + t.poolIdleRelease[1], count: pending.pools }
      : range(t.poolIdleRelease, pending.pools),
  ];
}

/** Counts of what restore started or still waits for (`item.restore.started`, `item.restoreCheck.pending`). */
export interface RestorePending {
  clusters: number;
  pools: number;
  warehouses: number;
  pipelines: number;
  jobs: number;
}

/**
 * What restoring still waits for, `elapsedSeconds` after restore was issued: starts take minutes; pool
 * settings and schedules just put back take effect at once.
 */
export function restoreExpectations(pending: RestorePending, elapsedSeconds: number): Expected[] {
  const t = TYPICAL_SECONDS;
  const atOnce = pending.pools + pending.jobs;
  return [
    range(t.clusterStart, pending.clusters),
    range(t.warehouseStart, pending.warehouses),
    range(t.pipelineStart, pending.pipelines),
    { from: elapsedSeconds, to: elapsedSeconds + POLL_LOOPS.restore.minSeconds, count: atOnce },
  ];
}

/**
 * What the workspace update waits for, by what the workspace shows: PROVISIONING (a Databricks-managed VPC)
 * or still RUNNING on the old key id (a customer-managed VPC, which stays RUNNING while the id changes).
 * `undefined`: it could not be read (recovery), so nothing is expected.
 */
export function workspaceUpdateExpectations(workspaceStatus: string | undefined): Expected[] {
  if (workspaceStatus === 'PROVISIONING') return [range(TYPICAL_SECONDS.workspaceUpdate, 1)];
  if (workspaceStatus === 'RUNNING') return [range(TYPICAL_SECONDS.workspaceUpdateCustomerNetwork, 1)];
  return [{ ...NO_EXPECTATION, count: 1 }];
}

/** Seconds from `since` to `now` (both epoch ms). */
export function secondsSince(since: number, now: number): number {
  return (now - since) / 1000;
}

// ----------------------------------------------------------------------------------- the steps' waits

const MINUTE = 60_000;

/**
 * Seconds after a turn whose calls Databricks throttled (deferred, not failed) until the next one makes
 * them: the turn has already waited out every `Retry-After` it was given for as long as its client's retry
 * budget allowed, so the next comes as soon as the loop's floor lets it — throttling is a speed, not a
 * failure, and compute waiting for a stop or a start is downtime.
 */
const THROTTLED_AGAIN_SECONDS = 1;

/** The time a throttled turn spent since it began (`checkedAt`), counted toward the loop's floor. */
function busySince(checkedAt: number | undefined, now: number): Pick<PollSituation, 'busySeconds'> {
  return checkedAt === undefined ? {} : { busySeconds: Math.max(0, secondsSince(checkedAt, now)) };
}

/**
 * The first wait after `stop-compute`: drain (runs to wait for) or stop (what ran is being stopped). Counted
 * from the end of the step, not from the stop deadline like the checks: with many resources the stop calls
 * take a while, and the last ones, sent just now, end last.
 */
export function afterStopIssued(
  result: { phase: 'draining' | 'stopping'; counts: StopPending; deferred?: number | undefined },
  leaseMinutes?: number,
): number {
  if (result.phase === 'draining') {
    const runs = Math.max(1, result.counts.runs ?? 0);
    return nextCheckSeconds({
      loop: 'drain',
      elapsedSeconds: 0,
      expected: [{ ...NO_EXPECTATION, count: runs }],
      leaseMinutes,
    });
  }
  const wait = nextCheckSeconds({
    loop: 'stop',
    elapsedSeconds: 0,
    expected: stopExpectations(result.counts, 0),
    leaseMinutes,
  });
  // Stops Databricks throttled were deferred, not made: the first check makes them, as soon as it may.
  if ((result.deferred ?? 0) > 0) return Math.min(wait, POLL_LOOPS.stop.minSeconds);
  // Cancelled job runs leave their job clusters running until the cancellation takes effect, and it is the
  // first check that stops them: it comes when a cancellation has typically ended, not when the clusters
  // stopped now would. (Waiting the clusters' time first measured 1.15x the platform minimum on the demo.)
  return (result.counts.runs ?? 0) > 0 ? Math.min(wait, RUN_CANCEL_FIRST_CHECK_SECONDS) : wait;
}

/** Typical end of a job run cancellation (Databricks: seconds; the emulator draws 5-20 s). */
const RUN_CANCEL_FIRST_CHECK_SECONDS = 20;

/**
 * After `check-compute-stopped`: guarding the storage wait (`storageWaitUntil`), draining, or stopping.
 * The stop began `stopTimeoutMinutes` before the stop deadline in force (set when the stop was issued, when
 * the drain ended, or when Databricks refused the PATCH); the drain began `drainTimeoutMinutes` before its
 * deadline.
 */
export function afterStopCheck(x: {
  result: {
    status: string;
    remaining: StopPending;
    deadline: number;
    storageWaitUntil?: number | undefined;
    /** This turn's stops or reads Databricks throttled: what it could not do is done at the next turn. */
    throttled?: boolean | undefined;
    /** Epoch ms the turn began. */
    checkedAt?: number | undefined;
  };
  drainDeadline: number | undefined;
  drainTimeoutMinutes: number;
  stopTimeoutMinutes: number;
  now: number;
  leaseMinutes?: number;
}): number {
  const { result, now, leaseMinutes } = x;
  if (result.storageWaitUntil !== undefined) {
    return nextCheckSeconds({
      loop: 'storageWait',
      elapsedSeconds: 0,
      expected: [],
      dueInSeconds: Math.max(0, secondsSince(now, result.storageWaitUntil)),
      leaseMinutes,
    });
  }
  if (result.status === 'DRAINING') {
    const since = (x.drainDeadline ?? now) - x.drainTimeoutMinutes * MINUTE;
    return nextCheckSeconds({
      loop: 'drain',
      elapsedSeconds: secondsSince(since, now),
      expected: [{ ...NO_EXPECTATION, count: Math.max(1, result.remaining.runs ?? 0) }],
      leaseMinutes,
    });
  }
  const elapsed = secondsSince(result.deadline - x.stopTimeoutMinutes * MINUTE, now);
  // A turn Databricks throttled has waited out its 429s: the next one comes at once (the loop's floor
  // counting the turn's own time), to make the stops it could not.
  const throttled = result.throttled === true && result.status !== 'STOPPED';
  return nextCheckSeconds({
    loop: 'stop',
    elapsedSeconds: elapsed,
    expected: stopExpectations(result.remaining, elapsed),
    leaseMinutes: x.leaseMinutes,
    ...(throttled ? { dueInSeconds: THROTTLED_AGAIN_SECONDS, ...busySince(result.checkedAt, now) } : {}),
  });
}

/**
 * The first wait after `update-workspace`: soon when the new key id already shows (nothing to wait for),
 * else the update's own schedule from the PATCH (the refused case goes back to stopping, without a wait).
 */
export function afterUpdateSent(
  result: { alreadyApplied?: boolean | undefined; reconciled?: string | undefined; refused?: unknown },
  leaseMinutes?: number,
): number {
  const nothingToWaitFor =
    result.alreadyApplied === true || result.reconciled === 'applied' || result.refused !== undefined;
  return nextCheckSeconds({
    loop: 'update',
    elapsedSeconds: 0,
    expected: nothingToWaitFor ? [] : workspaceUpdateExpectations('PROVISIONING'),
    leaseMinutes,
  });
}

/** After `check-workspace`: the update's schedule from the PATCH, by what the workspace shows. */
export function afterWorkspaceCheck(x: {
  result: { status: string; workspaceStatus?: string | undefined };
  patchedAt: number;
  now: number;
  leaseMinutes?: number;
}): number {
  const expected = x.result.status === 'RUNNING' ? [] : workspaceUpdateExpectations(x.result.workspaceStatus);
  return nextCheckSeconds({
    loop: 'update',
    elapsedSeconds: secondsSince(x.patchedAt, x.now),
    expected,
    leaseMinutes: x.leaseMinutes,
  });
}

/**
 * After `check-workspace-settled` (recovery): while the workspace updates, the update's schedule from the
 * PATCH when one is known (else from when recovery began); a workspace that cannot be read is backed off.
 */
export function afterSettleCheck(x: {
  result: { status: string; workspaceStatus: string; deadline: number };
  patchedAt: number | undefined;
  recoveryWaitMinutes: number;
  now: number;
  leaseMinutes?: number;
}): number {
  const recoveryStartedAt = x.result.deadline - x.recoveryWaitMinutes * MINUTE;
  const since = Math.min(x.patchedAt ?? recoveryStartedAt, recoveryStartedAt);
  const expected =
    x.result.status !== 'UPDATING'
      ? []
      : workspaceUpdateExpectations(x.result.workspaceStatus === 'PROVISIONING' ? 'PROVISIONING' : undefined);
  return nextCheckSeconds({
    loop: 'recovery',
    elapsedSeconds: secondsSince(since, x.now),
    expected,
    leaseMinutes: x.leaseMinutes,
  });
}

/** Seconds after which `check-compute-restored` tries a failed start again (lib/compute/restore.ts). */
const RESTORE_RETRY_FIRST_SECONDS = 20;

/**
 * The first wait after `restore-compute`: what it started, and a failed start's first retry. Counted from
 * the end of the step (as after `stop-compute`: the last starts were sent just now).
 */
export function afterRestoreIssued(
  result: {
    nothingToRestore: boolean;
    started: RestorePending;
    failedCount: number;
    deferred?: number | undefined;
  },
  leaseMinutes?: number,
): number {
  const due = [
    ...(result.failedCount > 0 ? [RESTORE_RETRY_FIRST_SECONDS] : []),
    ...((result.deferred ?? 0) > 0 ? [THROTTLED_AGAIN_SECONDS] : []),
  ];
  return nextCheckSeconds({
    loop: 'restore',
    elapsedSeconds: 0,
    expected: result.nothingToRestore ? [] : restoreExpectations(result.started, 0),
    ...(due.length > 0 ? { dueInSeconds: Math.min(...due) } : {}),
    leaseMinutes,
  });
}

/**
 * After `check-compute-restored`: what is still pending, from when restore was issued (its deadline less
 * `restoreTimeoutMinutes`), and the next retry of a failed start.
 */
export function afterRestoreCheck(x: {
  result: {
    status: string;
    pending: RestorePending;
    retrying?: ReadonlyArray<{ nextAt: number }> | undefined;
    /** Kinds whose starts Databricks throttled this turn (deferred to the next). */
    throttledKinds?: readonly string[] | undefined;
    /** Kinds whose list Databricks throttled this turn. */
    throttled?: boolean | undefined;
    /** Epoch ms the turn began. */
    checkedAt?: number | undefined;
  };
  restoreDeadline: number;
  restoreTimeoutMinutes: number;
  now: number;
  leaseMinutes?: number;
}): number {
  const elapsed = secondsSince(x.restoreDeadline - x.restoreTimeoutMinutes * MINUTE, x.now);
  const due = (x.result.retrying ?? []).map((r) => Math.max(0, secondsSince(x.now, r.nextAt)));
  const throttled = (x.result.throttledKinds?.length ?? 0) > 0 || x.result.throttled === true;
  if (throttled && x.result.status !== 'RESTORED') due.push(THROTTLED_AGAIN_SECONDS);
  return nextCheckSeconds({
    loop: 'restore',
    elapsedSeconds: elapsed,
    expected: x.result.status === 'RESTORED' ? [] : restoreExpectations(x.result.pending, elapsed),
    ...(due.length > 0 ? { dueInSeconds: Math.min(...due) } : {}),
    leaseMinutes: x.leaseMinutes,
    ...(throttled ? busySince(x.result.checkedAt, x.now) : {}),
  });
}
