import { describe, expect, it } from 'vitest';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

async function run(name: string): Promise<Report> {
  return runScenario(
    await loadScenario(new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname),
  );
}

const waits = (report: Report, ...names: string[]) =>
  report.states.filter((s) => names.includes(s.name)).map((s) => s.exitedAt - s.enteredAt);

/**
 * The poll schedule (lib/poll.ts) against the real state machine in virtual time: the figures are exact, so
 * the bounds are the measured ones (with fixed intervals the same rotation took 186 transitions and a
 * window 1.053 times the platform's minimum).
 */
describe('Polling that tracks the platform', () => {
  it('rotates the managed-services key in at most 65 state transitions, close to the platform’s own time', async () => {
    // Act
    const report = await run('rotate-managed-services');
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    // 65, measured: 79 before the lock, restore-only and storage Choices were merged into the ones before
    // them, the STOPPED check stopped needing a separate re-check, the drain looked every 2 minutes
    // instead of every minute (the drain comes before the window: it costs no downtime); then the child
    // took the item as its input (no unwrapping Pass), the rotated workspace's release built its result
    // and the announcement became the rotation's output (no Pass for either).
    expect(report.stateTransitions).toBeLessThanOrEqual(65);
    // The STOPPED answer the PATCH follows is a look at every kind, made in that same check.
    const patch = report.callLog.findIndex((e) => e.method === 'PATCH');
    const lastLook = report.callLog
      .slice(0, patch)
      .map((e) => e.path.split('?')[0])
      .reverse();
    for (const list of [
      '/api/2.1/clusters/list',
      '/api/2.0/instance-pools/list',
      '/api/2.0/sql/warehouses',
      '/api/2.0/pipelines',
      '/api/2.2/jobs/runs/list',
    ]) {
      const at = lastLook.indexOf(list);
      expect(at, list).toBeGreaterThanOrEqual(0);
      expect(at, list).toBeLessThan(8);
    }
    const [window] = report.downtime;
    expect(
      (window?.windowSeconds ?? Number.POSITIVE_INFINITY) / (window?.platformMinimumSeconds ?? 1),
    ).toBeLessThan(1.03);
    // While the workspace updates, the check also stops again what starts: never more than a minute apart.
    const guarded = waits(report, 'Wait after updating the workspace', 'Wait for workspace to run again');
    expect(guarded.length).toBeGreaterThan(0);
    // (a Wait of 60 s, measured as the difference of two float clock readings)
    for (const seconds of guarded) expect(seconds).toBeLessThanOrEqual(60 + 1e-6);
  }, 120_000);

  it('guards the storage wait every minute and restores as soon as it ends', async () => {
    // Act
    const report = await run('storage-first-time');
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    const guarded = waits(report, 'Wait for the storage key to take effect');
    expect(guarded.length).toBeGreaterThanOrEqual(19);
    // (60 s, give or take the float noise of the virtual clock's seconds)
    for (const seconds of guarded) expect(seconds).toBeLessThanOrEqual(60 + 1e-6);
    // The storage wait counts from the check that saw the workspace RUNNING on the new key.
    const runningSeen = report.states.filter((s) => s.name === 'Check workspace').at(-1)?.enteredAt ?? 0;
    const restoring = report.states.find((s) => s.name === 'Restore compute')?.enteredAt ?? 0;
    expect(restoring).toBeGreaterThanOrEqual(runningSeen + 20 * 60);
    expect(restoring).toBeLessThan(runningSeen + 20 * 60 + 10);
  }, 120_000);
});
