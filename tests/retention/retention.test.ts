import { describe, expect, it } from 'vitest';
import { MAX_ERROR_MESSAGE_CHARS } from '../../lib/errors.ts';
import { type FinishInput, finishRotation, type RotationResult } from '../../lib/retention.ts';

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

/** A Cause as Step Functions receives it from a Lambda Task: the runtime's JSON error object. */
function lambdaCause(name: string, message: string): string {
  const trace = [
    `${name}: ${message}`,
    ...Array.from({ length: 12 }, (_, i) => `    at a${i} (file:///var/task/index.mjs:1:${i * 977})`),
  ];
  return JSON.stringify({ errorType: name, errorMessage: message, trace });
}

describe('finishRotation', () => {
  it('quotes the message of a Lambda Cause, not its escaped JSON and stack frames', () => {
    // Prepare
    const rotations: RotationResult[] = [
      {
        workspaceId: 1,
        status: 'FAILED',
        error: 'ComputeNotRestored',
        cause: lambdaCause('ComputeNotRestored', 'cluster "etl" did not start: QUOTA_EXCEEDED'),
        computeRestored: false,
        restoreError: 'S3ServiceException',
        restoreCause: lambdaCause('S3ServiceException', 'Access Denied'),
      },
    ];
    // Act
    const act = () => finishRotation({ plan, rotations }, 0);
    // Assess
    expect(act).toThrow(/workspace 1: ComputeNotRestored: cluster "etl" did not start: QUOTA_EXCEEDED \[/);
    expect(act).toThrow(/\(S3ServiceException: Access Denied\)/);
    expect(act).not.toThrow(/errorType|index\.mjs|\\"/);
  });

  it('keeps a Cause that is not a Lambda error object as it is', () => {
    // Act
    const act = () =>
      finishRotation(
        {
          plan,
          rotations: [{ workspaceId: 1, status: 'FAILED', error: 'States.Timeout', cause: '{not json' }],
        },
        0,
      );
    // Assess
    expect(act).toThrow(/workspace 1: States.Timeout: \{not json/);
  });

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

  /** What `finishRotation` threw for these rotations. */
  function failure(rotations: RotationResult[]): Error {
    try {
      finishRotation({ plan, rotations }, 0);
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected finishRotation to throw');
  }

  it('names every one of 500 failed workspaces and stays under the error cap', () => {
    // Prepare: sixteen-digit ids, long causes, half with compute still stopped
    const ids = Array.from({ length: 500 }, (_, i) => 1234567890123456 + i * 7919);
    const rotations: RotationResult[] = ids.map((workspaceId, i) => ({
      workspaceId,
      status: 'FAILED',
      error: 'ComputeNotRestored',
      cause: `cluster ${'c'.repeat(5_000)} did not start`,
      computeRestored: i % 2 === 1,
      ...(i % 2 === 0 ? { restoreError: 'ComputeNotRestored', restoreCause: 'r'.repeat(5_000) } : {}),
    }));

    // Act
    const error = failure(rotations);

    // Assess
    expect(error.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(error.message).not.toContain('characters cut');
    for (const [i, id] of ids.entries()) {
      expect(error.message).toMatch(new RegExp(i % 2 === 0 ? `${id}\\*` : `${id}[,.]`));
    }
    expect(error.message).toMatch(
      /^500 of 500 workspace\(s\) failed\. Workspaces failed \(\* = compute NOT fully restored/,
    );
    expect(error.message).toMatch(/workspace \d+: ComputeNotRestored: cluster c+… \[/);
    expect(error.message).toMatch(/\(\d+ more failure\(s\) not detailed here\)$/);
    expect(error.name).toBe('ComputeNotRestored');
  });

  it('details first the failed workspaces whose compute is still stopped', () => {
    // Act
    const error = failure([
      { workspaceId: 1, status: 'FAILED', error: 'DrainTimeout', cause: 'runs', computeRestored: true },
      {
        workspaceId: 2,
        status: 'FAILED',
        error: 'DrainTimeout',
        cause: 'runs',
        computeRestored: false,
        restoreError: 'ComputeNotRestored',
        restoreCause: 'warehouse w-1 stayed STOPPED',
      },
    ]);

    // Assess
    expect(error.message).toContain('Workspaces failed (* = compute NOT fully restored');
    expect(error.message).toContain(': 1, 2*.');
    expect(error.message.indexOf('workspace 2:')).toBeLessThan(error.message.indexOf('workspace 1:'));
  });

  it('lists a long tail of rotated workspaces compactly', () => {
    // Prepare
    const rotated: RotationResult[] = Array.from({ length: 2_000 }, (_, i) => ({
      workspaceId: 1234567890123456 + i,
      status: 'ROTATED',
    }));

    // Act
    const error = failure([
      { workspaceId: 9, status: 'FAILED', error: 'KeyDisabled', cause: 'disabled' },
      ...rotated,
    ]);

    // Assess
    expect(error.message.length).toBeLessThanOrEqual(MAX_ERROR_MESSAGE_CHARS);
    expect(error.message).toMatch(/workspaces 1234567890123456, .* and \d+ more were rotated/);
    expect(error.message).toContain('workspace 9: KeyDisabled: disabled');
    expect(error.name).toBe('KeyDisabled');
  });

  it.each([
    'TransientError',
    'DatabricksThrottled',
    'DatabricksUnavailable',
    'KmsThrottled',
    'Lambda.Unknown',
    'Lambda.ServiceException',
    'States.Timeout',
    'States.TaskFailed',
  ])(
    'names RotationFailed when every workspace failed with %s, which "Finish rotation" would retry',
    (name) => {
      // Act
      const error = failure([
        { workspaceId: 1, status: 'FAILED', error: name, cause: 'x', computeRestored: true },
        { workspaceId: 2, status: 'FAILED', error: name, cause: 'y', computeRestored: true },
      ]);

      // Assess
      expect(error.name).toBe('RotationFailed');
      expect(error.message).toContain(`workspace 1: ${name}: x`);
    },
  );
});

describe('compactRotationResult', () => {
  it('keeps what the finish step needs, cutting the texts to the budget and reducing a Lambda cause to its message', async () => {
    // Prepare
    const { compactRotationResult } = await import('../../lib/retention.ts');
    const failed = {
      workspaceId: 7,
      status: 'FAILED',
      error: 'ComputeNotRestored',
      cause: lambdaCause('ComputeNotRestored', `cluster ${'c'.repeat(4_000)} did not start`),
      computeRestored: false,
      stillStopped: `clusters: ${'x'.repeat(6_000)}`,
      keyConfig: { id: 'cfg', big: 'y'.repeat(2_000) },
      update: { patchedAt: 5, fields: ['a'] },
    };
    // Act
    const roomy = compactRotationResult(failed) as Record<string, unknown>;
    const tight = compactRotationResult(failed, 150) as Record<string, unknown>;
    // Assess
    expect(roomy.keyConfig).toBeUndefined();
    expect(roomy.update).toEqual({ patchedAt: 5 });
    expect(String(roomy.cause)).toMatch(/^cluster c+/);
    expect(Buffer.byteLength(JSON.stringify(roomy))).toBeLessThanOrEqual(5_000);
    expect(tight).toMatchObject({
      workspaceId: 7,
      status: 'FAILED',
      error: 'ComputeNotRestored',
      computeRestored: false,
    });
    expect(Buffer.byteLength(JSON.stringify(tight))).toBeLessThanOrEqual(150);
  });
});
