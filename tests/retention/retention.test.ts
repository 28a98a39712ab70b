import { describe, expect, it } from 'vitest';
import { type FinishInput, finishRotation } from '../../lib/retention.ts';

const plan: FinishInput['plan'] = {
  mode: 'rotate',
  dryRun: false,
  reason: 'manual',
  trigger: { kind: 'manual' },
  target: { keyArn: 'arn:aws:kms:us-east-1:111122223333:key/new', keyId: 'new', region: 'us-east-1' },
  useCases: ['MANAGED_SERVICES'],
  reuseKeyForClusterVolumes: true,
  activeRuns: 'wait',
  drainTimeoutMinutes: 60,
  oldKeyRetentionHours: 24,
  storageWaitSeconds: 0,
  emergency: false,
  maxConcurrency: 2,
  workspaces: [],
  oldKeyArns: ['arn:aws:kms:us-east-1:111122223333:key/old'],
};

describe('finishRotation', () => {
  it('keeps the old key until the retention hours after the last update', () => {
    const notice = finishRotation(
      {
        plan,
        rotations: [
          { workspaceId: 1, status: 'ROTATED', update: { patchedAt: Date.UTC(2026, 10, 29, 8) } },
          { workspaceId: 2, status: 'ROTATED', update: { patchedAt: Date.UTC(2026, 10, 29, 9) } },
        ],
      },
      0,
    );
    expect(notice.retainUntil).toBe('2026-11-30T09:00:00.000Z');
    expect(notice.oldKeyArns).toEqual(plan.oldKeyArns);
    expect(notice.workspaceIds).toEqual([1, 2]);
  });

  it("fails with the workspace's own error name and says what was restored", () => {
    const act = () =>
      finishRotation(
        {
          plan,
          rotations: [
            {
              workspaceId: 1,
              status: 'FAILED',
              error: 'WorkspaceUpdateReverted',
              cause: 'reverted',
              computeRestored: true,
            },
            { workspaceId: 2, status: 'ROTATED', update: { patchedAt: 1 } },
          ],
        },
        0,
      );
    expect(act).toThrow(expect.objectContaining({ name: 'WorkspaceUpdateReverted' }));
    expect(act).toThrow(
      /workspace 1: WorkspaceUpdateReverted: reverted \[key change not confirmed; compute restored/,
    );
    expect(act).toThrow(/workspaces 2 were rotated: keep the old key\(s\) usable for 24 h/);
  });

  it('names RotationFailed and lists unrestored compute when workspaces fail differently', () => {
    const act = () =>
      finishRotation(
        {
          plan,
          rotations: [
            {
              workspaceId: 1,
              status: 'FAILED',
              error: 'DrainTimeout',
              cause: 'runs still active',
              computeRestored: true,
            },
            {
              workspaceId: 2,
              status: 'FAILED',
              error: 'ComputeNotRestored',
              cause: 'x',
              keyChanged: true,
              computeRestored: false,
              restoreError: 'ComputeNotRestored',
              restoreCause: 'cluster c-9 did not start',
            },
          ],
        },
        0,
      );
    expect(act).toThrow(expect.objectContaining({ name: 'RotationFailed' }));
    expect(act).toThrow(/compute NOT fully restored \(ComputeNotRestored: cluster c-9 did not start\)/);
  });
});
