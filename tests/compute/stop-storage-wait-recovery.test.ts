import { describe, expect, it } from 'vitest';
import type { Report } from '../../local/runner/report.ts';
import { baseScenario, expectSafe, run } from '../recovery/harness.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

/**
 * The real ASL with the real handlers: recovery's guard ("Keep compute stopped before restoring") ends the
 * storage wait the main path began, counted from when the workspace was first seen running on the new key;
 * a failure while the workspace was still PROVISIONING waits the whole storage wait from when it settled.
 * Nothing starts before the wait is over either way (invariant nothing-started-during-window).
 */

const WAIT_MINUTES = 25;
const WAIT_SECONDS = WAIT_MINUTES * 60;

const entries = (r: Report, name: string) => r.states.filter((s) => s.name === name);
const firstEntry = (r: Report, name: string) => entries(r, name)[0]?.enteredAt ?? Number.NaN;
const lastEntry = (r: Report, name: string) => entries(r, name).at(-1)?.enteredAt ?? Number.NaN;

describe('The storage wait when the rotation fails during it', () => {
  it('after a failure near its end, recovery waits only what is left of it, then restores', async () => {
    // Prepare: the guard's check fails for good (six attempts) after 22 looks of a 25-minute wait
    const scenario = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: WAIT_MINUTES },
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
    // Assess
    expectSafe(scenario, report, 'storage wait resumed');
    const runningAt = lastEntry(report, 'Check workspace');
    const restoreAt = firstEntry(report, 'Restore compute after failure');
    expect(entries(report, 'Keep compute stopped before restoring').length).toBeGreaterThan(0);
    expect(restoreAt).toBeGreaterThanOrEqual(runningAt + WAIT_SECONDS);
    // Not a second whole wait: restoring begins within a few minutes of the end of the first one.
    expect(restoreAt).toBeLessThan(runningAt + WAIT_SECONDS + 5 * 60);
    expect(entries(report, 'Keep compute stopped before restoring').length).toBeLessThanOrEqual(6);
    expect(report.error?.cause).toMatch(/\[key changed; compute restored/);
  }, 120_000);

  it('after a failure while the workspace was still updating, waits the whole wait from when it settled', async () => {
    // Prepare: the workspace is PROVISIONING for 10 minutes; every check of it fails before it runs again
    const scenario = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: WAIT_MINUTES },
      timings: { workspaceUpdate: [600, 600] },
      awsFaults: [{ service: 'lambda', operation: 'Check workspace', error: 'Lambda.Unknown', times: 6 }],
    });
    // Act
    const report = await run(scenario);
    // Assess
    expectSafe(scenario, report, 'storage wait after provisioning');
    expect(entries(report, 'Keep compute stopped during the storage wait')).toEqual([]);
    expect(entries(report, 'Keep compute stopped before restoring').length).toBeGreaterThan(0);
    const settledAt = lastEntry(report, 'Check the workspace before restoring');
    const restoreAt = firstEntry(report, 'Restore compute after failure');
    expect(restoreAt).toBeGreaterThanOrEqual(settledAt + WAIT_SECONDS);
  }, 120_000);
});
