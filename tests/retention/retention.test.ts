import { describe, expect, it } from 'vitest';
import { describeStillStopped } from '../../lib/compute/errors.ts';
import { MAX_ERROR_MESSAGE_CHARS, MAX_ROTATION_ERROR_CHARS } from '../../lib/errors.ts';
import { parseRotationFailure } from '../../lib/notify-format.ts';
import {
  compactRotationResult,
  type FinishInput,
  finishRotation,
  type RotationResult,
} from '../../lib/retention.ts';

function thrown(act: () => unknown): Error {
  try {
    act();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected it to throw');
}

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
    expect(act).toThrow(
      /workspaces 2 were rotated: keep the old key\(s\) usable until 1970-01-02T00:00:00\.001Z \(24 h after the last update\)\./,
    );
    expect(act).not.toThrow(/changed before/);
  });

  it('tells to keep the old key when a workspace failed after its key changed, with no workspace rotated', () => {
    // Prepare: the key changed, then the storage-wait guard failed; a second workspace failed earlier
    const rotations: FinishInput['rotations'] = [
      {
        workspaceId: 1,
        status: 'FAILED',
        error: 'TransientError',
        cause: 'x',
        keyChanged: true,
        computeRestored: true,
        update: { patchedAt: 3_600_000 },
      },
      {
        workspaceId: 2,
        status: 'FAILED',
        error: 'KeyDisabled',
        cause: 'y',
        keyChanged: false,
        computeRestored: true,
      },
    ];
    // Act
    const error = thrown(() => finishRotation({ plan, rotations }, 7_200_000));
    // Assess
    expect(error.message).toContain(
      ' The key of workspace(s) 1 changed before they failed: keep the old key(s) usable until 1970-01-02T01:00:00.000Z (24 h after the last update); Databricks still needs them.',
    );
    expect(error.message).not.toContain('were rotated');
    expect(parseRotationFailure(error.message)).toMatchObject({ keyChanged: ['1'], keyChangedNotListed: 0 });
    // Every failed workspace's key changed: said in a few words, the failed list names them
    const all = thrown(() =>
      finishRotation(
        {
          plan,
          rotations: [rotations[0] as RotationResult, { ...rotations[0], workspaceId: 3 } as RotationResult],
        },
        7_200_000,
      ),
    );
    expect(all.message).toContain(
      'The key of every failed workspace changed before it failed: keep the old key(s) usable until',
    );
    expect(parseRotationFailure(all.message)).toMatchObject({ keyChanged: ['1', '3'] });
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

/** Where workspace `id`'s compute snapshot is. */
const snapshotOf = (id: number) => `s3://cmk-rotator-snapshots/rotate-2026-11-26/${id}/compute-snapshot.json`;

/** The ids of workspace `n`'s clusters: `w<n>-ui`, `w<n>-api`, then `extra` long ones. */
function clusterIds(n: number, extra: number): string[] {
  return [
    `w${n}-ui`,
    `w${n}-api`,
    ...Array.from({ length: extra }, (_, i) => `w${n}-c${String(i).padStart(4, '0')}-${'x'.repeat(20)}`),
  ];
}

/**
 * What restore.ts recorded before `describeStillStopped`: every cluster with its reason, then the paused
 * schedules, then the snapshot — long enough that a plain cut loses the schedule and the snapshot.
 */
function oldStillStopped(n: number, id: number, extra: number): string {
  const listed = clusterIds(n, extra).map(
    (c) => `${c} (TERMINATED; last error: HTTP 500 INTERNAL_ERROR: capacity)`,
  );
  return `still stopped: clusters: ${listed.join(', ')}; warehouses: w${n}wh01; schedules still paused: jobs: ${7000 + n}; snapshot ${snapshotOf(id)}`;
}

/** Workspace n failed and its compute did not come back; `stillStopped` says what is still stopped. */
function unrestored(n: number, stillStopped: (n: number, id: number) => string): RotationResult {
  const workspaceId = 1_000_000_000_000_000 + n;
  return {
    workspaceId,
    status: 'FAILED',
    error: 'ComputeNotRestored',
    cause: `compute of workspace ${workspaceId} (acme-ws${n}) was not fully restored; start these by hand`,
    keyChanged: true,
    computeRestored: false,
    stillStopped: stillStopped(n, workspaceId),
  };
}

/** Every cluster id of workspace n in `text` is whole (none cut in the middle). */
function expectWholeIds(text: string, n: number, extra: number): void {
  const known = new Set(clusterIds(n, extra));
  for (const id of text.match(new RegExp(`\\bw${n}-(?:ui|api|c[\\w-]*)`, 'g')) ?? []) {
    expect(known.has(id), `${id} is cut`).toBe(true);
  }
}

describe('finishRotation: what is still stopped', () => {
  /** What `finishRotation` threw for these rotations. */
  function failure(rotations: RotationResult[]): Error {
    try {
      finishRotation({ plan, rotations }, 0);
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected finishRotation to throw');
  }

  it('names the paused schedule of a workspace with 62 clusters still stopped, and each cluster', () => {
    // Prepare
    const rotation = unrestored(1, (n, id) => oldStillStopped(n, id, 60));

    // Act
    const error = failure([rotation]);

    // Assess
    expect(rotation.stillStopped?.length).toBeGreaterThan(5_000);
    expect(error.message).toContain('schedules still paused: jobs: 7001');
    expect(error.message).toMatch(/still stopped: clusters \(62\): w1-ui[ ,].*, w1-c0059-x+; warehouses/);
    expect(error.message).toContain(`snapshot ${snapshotOf(rotation.workspaceId)}]`);
    expectWholeIds(error.message, 1, 60);
  });

  it('names each of 30 failing workspaces with 60 clusters still stopped, with its snapshot and first ids', () => {
    // Prepare
    const rotations = Array.from({ length: 30 }, (_, i) =>
      unrestored(i + 1, (n, id) =>
        describeStillStopped({
          stopped: clusterIds(n, 60).map((c) => ({
            kind: 'cluster',
            id: c,
            why: 'TERMINATED; last error: capacity',
          })),
          paused: [{ kind: 'job', id: String(7000 + n) }],
          snapshot: snapshotOf(id),
        }),
      ),
    );

    // Act
    const error = failure(rotations);

    // Assess
    expect(error.message.length).toBeLessThanOrEqual(MAX_ROTATION_ERROR_CHARS);
    expect(error.message).not.toContain('not detailed here');
    for (const [i, r] of rotations.entries()) {
      const n = i + 1;
      expect(error.message).toContain(`${r.workspaceId}*`);
      const line = error.message.split(` workspace ${r.workspaceId}: `)[1]?.split('];')[0] ?? '';
      expect(line).toContain(`jobs: ${7000 + n}`);
      expect(line).toMatch(
        new RegExp(`clusters \\(62\\): w${n}-ui, .* and \\d+ more; snapshot ${snapshotOf(r.workspaceId)}$`),
      );
      expectWholeIds(line, n, 60);
    }
    // What an operator is notified of reads every one of them back.
    const parsed = parseRotationFailure(error.message);
    expect(parsed?.workspaces.map((w) => w.compute?.includes('still stopped: clusters (62)'))).toEqual(
      rotations.map(() => true),
    );
  });

  it('goes past the usual cap only to give every workspace still stopped its line, and never past 24,000', () => {
    // Prepare: more workspaces than the usual cap has room for, each with a long snapshot location
    const rotations = (count: number) =>
      Array.from({ length: count }, (_, i) => unrestored(i + 1, (n, id) => oldStillStopped(n, id, 60)));
    const restored: RotationResult = {
      workspaceId: 9,
      status: 'FAILED',
      error: 'KeyDisabled',
      cause: 'disabled',
      computeRestored: true,
    };

    // Act
    const sixty = failure([...rotations(60), restored]);
    const hundred = failure(rotations(120));
    const most = failure(rotations(400));

    // Assess: sixty lines, each with its own snapshot location
    expect(sixty.message.length).toBeGreaterThan(MAX_ERROR_MESSAGE_CHARS);
    expect(sixty.message.length).toBeLessThanOrEqual(MAX_ROTATION_ERROR_CHARS);
    for (const [i, r] of rotations(60).entries()) {
      expect(sixty.message).toMatch(
        new RegExp(
          ` workspace ${r.workspaceId}: ComputeNotRestored: [^\\]]*still stopped: clusters \\(62\\); warehouses \\(1\\); schedules still paused: jobs: ${7001 + i}; snapshot ${snapshotOf(r.workspaceId)}\\]`,
        ),
      );
    }
    // The workspace whose compute was restored is not detailed: the room went to what is still stopped.
    expect(sixty.message).toMatch(/\(1 more failure\(s\) not detailed here\)$/);
    // 120 lines: where the snapshots are is said once
    expect(hundred.message.length).toBeLessThanOrEqual(MAX_ROTATION_ERROR_CHARS);
    expect(hundred.message).toContain(
      ' Compute snapshots: s3://cmk-rotator-snapshots/rotate-2026-11-26/<workspace id>/compute-snapshot.json.',
    );
    for (const r of rotations(120)) {
      expect(hundred.message).toContain(` workspace ${r.workspaceId}: ComputeNotRestored: `);
    }
    expect(hundred.message).not.toContain('not detailed here');
    // 400: as many as fit, the rest counted
    expect(most.message.length).toBeLessThanOrEqual(MAX_ROTATION_ERROR_CHARS);
    expect(most.message).toMatch(/\(\d+ more failure\(s\) not detailed here\)$/);
  });
});

describe('compactRotationResult: what is still stopped', () => {
  it('keeps the paused schedule, the counts and the snapshot location when it shortens what is still stopped', () => {
    // Prepare
    const result = { ...unrestored(1, (n, id) => oldStillStopped(n, id, 200)), cause: 'c'.repeat(900) };

    // Act
    const roomy = compactRotationResult(result) as Record<string, unknown>;
    const tight = compactRotationResult(result, 900) as Record<string, unknown>;

    // Assess
    expect(roomy.stillStopped).toMatch(
      /^still stopped: clusters \(202\): w1-ui[ ,].* and \d+ more; warehouses/,
    );
    expect(tight.stillStopped).toMatch(/^still stopped: clusters \(202\); warehouses \(1\); /);
    for (const out of [roomy, tight]) {
      expect(out.stillStopped).toContain('schedules still paused: jobs: 7001');
      expect(out.stillStopped).toContain(`snapshot ${snapshotOf(result.workspaceId)}`);
      expectWholeIds(String(out.stillStopped), 1, 200);
    }
    expect(String(roomy.stillStopped).length).toBeLessThanOrEqual(3_000);
    expect(Buffer.byteLength(JSON.stringify(tight))).toBeLessThanOrEqual(900);
  });
});
