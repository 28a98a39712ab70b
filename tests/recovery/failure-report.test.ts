import { describe, expect, it } from 'vitest';
import { parseRotationFailure } from '../../lib/notify-format.ts';
import { baseScenario, run } from './harness.ts';

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
