import { describe, expect, it } from 'vitest';
import { largeScenario } from '../../bench/large.ts';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * A 100-resource workspace rotated by the real state machine in virtual time (bench/large.ts: 60 clusters,
 * 10 each of pools, warehouses, scheduled jobs and continuous pipelines). Throttling is a speed, not a
 * failure: under tight rate limits or a storm of 429s the rotation is slower, never failed, and every
 * invariant holds. Calls and outcomes are asserted, never wall time.
 */

const RESOURCES = 100;
const CLUSTERS = 60;

const path = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const starts = (r: Report) =>
  r.callLog.filter((e) => e.method === 'POST' && path(e) === '/api/2.1/clusters/start');
const windowRatio = (r: Report) => {
  const d = r.downtime[0];
  return (d?.windowSeconds ?? Number.POSITIVE_INFINITY) / (d?.platformMinimumSeconds ?? 1);
};

function expectRotated(report: Report): void {
  expect(report.error).toBeNull();
  expect(report.status).toBe('SUCCEEDED');
  expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  expect(report.invariants.map((i) => i.name)).toEqual(
    expect.arrayContaining(['nothing-started-during-window', 'everything-restored']),
  );
}

describe('throttling: a 100-resource workspace', () => {
  it('rotates with at most 3.78 Databricks calls per resource when nothing throttles', async () => {
    // Act
    const report = await runScenario(largeScenario(RESOURCES));

    // Assess: measured 378 calls (the 200 stop and start calls themselves, and the reads)
    expectRotated(report);
    expect(report.apiCalls.total).toBeLessThanOrEqual(378);
    expect(report.callLog.filter((e) => e.status === 429)).toEqual([]);
    expect(starts(report)).toHaveLength(CLUSTERS);
  }, 120_000);

  it('rotates under 4 requests/s per workspace and 2/s on the account, barely slower and barely refused', async () => {
    // Prepare
    const scenario = largeScenario(RESOURCES);
    scenario.databricks.rateLimits = { workspace: 4, account: 2, token: null };

    // Act
    const report = await runScenario(scenario);

    // Assess: the limit is learnt from the first refusals, then kept
    expectRotated(report);
    expect(windowRatio(report)).toBeLessThanOrEqual(1.1);
    expect(report.callLog.filter((e) => e.status === 429).length).toBeLessThanOrEqual(20);
    expect(report.apiCalls.total).toBeLessThanOrEqual(390);
  }, 120_000);

  it('rotates through a storm of 300 429s on clusters/start (Retry-After 5 s): each waited out, none a failure', async () => {
    // Prepare
    const scenario = largeScenario(RESOURCES);
    scenario.databricks.faults.push({
      method: 'POST',
      path: '/api/2.1/clusters/start',
      status: 429,
      retryAfterSeconds: 5,
      times: 300,
      after: false,
      skip: 0,
    });

    // Act
    const report = await runScenario(scenario);

    // Assess: the 300 refusals, the 60 starts, and at most the first round sent before the first 429 came
    // back (the client waits out every Retry-After instead of sending into the closed window).
    expectRotated(report);
    const all = starts(report);
    expect(all.filter((e) => e.status === 200)).toHaveLength(CLUSTERS);
    expect(all.length).toBeLessThanOrEqual(CLUSTERS + 300 + 8);
    expect(report.apiCalls.total / RESOURCES).toBeLessThanOrEqual(7);
  }, 120_000);

  it('rotates when every clusters/start is refused three times', async () => {
    // Prepare
    const scenario = largeScenario(RESOURCES);
    scenario.databricks.faults.push({
      method: 'POST',
      path: '/api/2.1/clusters/start',
      status: 429,
      retryAfterSeconds: 2,
      times: 3 * CLUSTERS,
      after: false,
      skip: 0,
    });

    // Act
    const report = await runScenario(scenario);

    // Assess
    expectRotated(report);
    expect(starts(report).length).toBeLessThanOrEqual(CLUSTERS + 3 * CLUSTERS + 8);
  }, 120_000);

  it('rotates through a 429 storm on clusters/start that outlasts two hours: throttling moves the restore deadline, and each throttled turn is followed at once', async () => {
    // Prepare: 180 refusals, each closing clusters/start for a minute: about three hours of a Databricks
    // that serves no start at all (the restore's own bound, before, was two hours)
    const scenario = largeScenario(RESOURCES);
    scenario.databricks.faults.push({
      method: 'POST',
      path: '/api/2.1/clusters/start',
      status: 429,
      retryAfterSeconds: 60,
      times: 3 * CLUSTERS,
      after: false,
      skip: 0,
    });

    // Act
    const report = await runScenario(scenario);

    // Assess
    expectRotated(report);
    const restoreBegan = report.states.find((s) => s.name === 'Restore compute')?.enteredAt ?? 0;
    const lastStart = Math.max(...starts(report).map((e) => e.t));
    expect(lastStart - restoreBegan).toBeGreaterThan(2.5 * 3600);
    // The storm is waited out, not slept through: a turn that spent its time waiting out 429s is followed
    // within seconds (the loop's floor of a minute between looks counts the turn's own time).
    const turns = report.states.filter((s) => s.name === 'Check compute restored');
    const afterThrottled = turns.slice(0, -1).flatMap((turn, i) => {
      const next = turns[i + 1];
      return next && turn.exitedAt - turn.enteredAt > 50 ? [next.enteredAt - turn.exitedAt] : [];
    });
    expect(afterThrottled.length).toBeGreaterThan(100);
    // (but the turn in which the storm ended: its starts went through, and they take minutes)
    expect(afterThrottled.filter((gap) => gap > 2).length).toBeLessThanOrEqual(1);
  }, 120_000);
});

describe('throttling: the pace Databricks allowed, handed from step to step', () => {
  it('starts each new Lambda at the pace the previous step learnt: at 1 request/s, 100 resources are refused at most 70 times', async () => {
    // Prepare: every function has its own client (its own containers), as in AWS. Measured: 63 refusals
    // when each step hands on its pace; 88 when every function learns the limit again from 429s.
    const scenario = largeScenario(RESOURCES);
    scenario.databricks.rateLimits = { workspace: 1, account: 1, token: null };

    // Act
    const report = await runScenario(scenario);

    // Assess
    expectRotated(report);
    expect(report.callLog.filter((e) => e.status === 429).length).toBeLessThanOrEqual(70);
  }, 120_000);
});

describe('throttling: stops deferred past the first step, many clusters still terminating', () => {
  it('reports nothing as started during the window when nothing was: a cluster whose stop was deferred is stopped, not "back"', async () => {
    // Prepare: 300 resources at 1 request/s, so stop-compute runs out of time and leaves stops to the
    // checks, which read the clusters while a hundred or more are terminating (more than one page). Before
    // the client read such a list consistently, a page started past a running cluster, which was stopped a
    // turn late and reported as started by someone during the window.
    const scenario = largeScenario(300);
    scenario.databricks.rateLimits = { workspace: 1, account: 2, token: null };

    // Act
    const report = await runScenario(scenario);

    // Assess
    expectRotated(report);
    const rotation = (report.output as { rotations: Array<Record<string, unknown>> }).rotations[0];
    expect(rotation?.status).toBe('ROTATED');
    expect(rotation?.cameBackDuringWindow).toBeUndefined();
    // Each cluster was stopped exactly once: none was missed by a check and stopped again later.
    const deletes = report.callLog.filter(
      (e) => e.method === 'POST' && path(e) === '/api/2.1/clusters/delete' && e.status === 200,
    );
    const ids = deletes.map((e) => (e.body as { cluster_id: string }).cluster_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(180);
  }, 120_000);

  it('rotates a 3,000-resource workspace at 1 request/s: the snapshot and the pauses outlast one invocation, and each retry goes on from there', async () => {
    // Prepare: 300 continuous pipelines (one read each) and 300 schedules (one pause each) take longer at
    // 1 request/s than stop-compute's 300-s invocation. Each attempt used to start over — read every
    // pipeline, pause every job again — and the step failed after its retries.
    const scenario = largeScenario(3000);
    scenario.databricks.rateLimits = { workspace: 1, account: 2, token: null };

    // Act
    const report = await runScenario(scenario);

    // Assess
    expectRotated(report);
    const gets = report.callLog.filter(
      (e) => e.method === 'GET' && /^\/api\/2\.0\/pipelines\/[^/]+$/.test(path(e)),
    );
    const ok = (e: CallLogEntry) => e.status === 200;
    // Each pipeline read once for the snapshot (the checks read only the list).
    expect(new Set(gets.filter(ok).map(path)).size).toBe(300);
    expect(gets.filter(ok)).toHaveLength(300);
    // Each schedule paused once and unpaused once.
    const updates = report.callLog.filter(
      (e) => e.method === 'POST' && path(e) === '/api/2.2/jobs/update' && ok(e),
    );
    expect(updates).toHaveLength(600);
  }, 120_000);
});
