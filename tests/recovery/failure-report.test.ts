import { describe, expect, it } from 'vitest';
import { parseRotationFailure } from '../../lib/notify-format.ts';
import { baseScenario, expectSafe, run } from './harness.ts';

/**
 * What a failed execution's error tells the operator when the key did change (DESIGN §1: Databricks needs
 * the old key for 24 h after an update) and when only a step after the restore failed: it must neither
 * invite retiring the old key nor say compute is down when it runs.
 */

const lambdaFault = (state: string) => ({
  service: 'lambda',
  operation: state,
  error: 'Lambda.Unknown',
  times: 50,
});

describe('A failed execution whose workspace key changed', () => {
  it('says to keep the old key, and that compute is restored when only the restore check failed', async () => {
    // Act: everything is restored, but the step that checks it keeps failing
    const report = await run(
      baseScenario({ name: 'check-fails', awsFaults: [lambdaFault('Check compute restored')] }),
    );
    // Assess
    expect(report.status).toBe('FAILED');
    const cause = report.error?.cause ?? '';
    expect(cause).toMatch(
      /The key of every failed workspace changed before it failed: keep the old key\(s\) usable until \S+ \(24 h after the last update\); Databricks still needs them\./,
    );
    expect(cause).toContain('[key changed; compute restored to its pre-rotation state]');
    expect(cause).not.toContain('NOT fully restored');
    expect(parseRotationFailure(cause)).toMatchObject({ keyChanged: ['1234567890123456'] });
  }, 120_000);

  it('keeps a pointer to the cause when the lock of the failed workspace could not be released', async () => {
    // Act: the restore check fails, then releasing the lock fails too
    const report = await run(
      baseScenario({
        name: 'release-fails',
        awsFaults: [lambdaFault('Check compute restored'), lambdaFault('Release the workspace lock')],
      }),
    );
    // Assess
    const cause = report.error?.cause ?? '';
    expect(cause).toMatch(
      /workspace 1234567890123456: Lambda\.Unknown: its cause is not repeated here \(the workspace lock could not be released, so the result was cut to fit; the lease expires on its own\): the execution arn:aws:states:\S+ has it \[key changed;/,
    );
  }, 120_000);
});

describe('Compute someone starts while it must stay stopped, and that cannot be stopped again', () => {
  // The first two cluster stops (the rotation's own) go through; every later one fails for good.
  const deleteFails = { method: 'POST', path: '/api/2.1/clusters/delete', status: 500, skip: 2, times: 1000 };

  it.each([
    ['the storage wait', true, 600],
    ['the workspace update', false, 150],
  ])(
    'fails as ComputeNotKeptStopped, naming it, when it ran through %s',
    async (window, storage, at) => {
      // Prepare
      const scenario = baseScenario({
        name: `not-kept-stopped-${storage ? 'storage' : 'update'}`,
        storage,
        settings: { storageWaitMinutes: 20 },
        databricksFaults: [deleteFails, { kind: 'startCluster', cluster_id: 'w1-off', atSeconds: at }],
      });
      // Act
      const report = await run(scenario);
      // Assess: before, the rotation SUCCEEDED with the cluster merely listed as having come back
      expect(report.status).toBe('FAILED');
      expect(report.error?.name).toBe('ComputeNotKeptStopped');
      expect(report.error?.cause).toContain(
        `compute someone started during ${window} could not be stopped again: clusters: w1-off (stop failed: `,
      );
      expect(report.error?.cause).toContain('[key changed; compute restored to its pre-rotation state]');
      expectSafe(scenario, report, window);
    },
    120_000,
  );
});
