import { describe, expect, it } from 'vitest';
import {
  causeText,
  consoleLink,
  type ExecutionFacts,
  fitBytes,
  formatExecutionEnded,
  MAX_MESSAGE_BYTES,
  parseRotationFailure,
  redact,
  stillStoppedClauses,
} from '../../lib/notify-format.ts';
import { type FinishInput, finishRotation, type RotationResult } from '../../lib/retention.ts';

const REGION = 'eu-west-1';
const EXECUTION = `arn:aws:states:${REGION}:111122223333:execution:rotate-workspace-key-prod:rotate-2026-11-26`;
const STILL_STOPPED =
  'still stopped: cluster 0101-abc (TERMINATED; last error: QUOTA_EXCEEDED), warehouse 9f8e7d; schedules still paused: job 42; snapshot s3://cmk-rotator-snapshots/rotate-2026-11-26/222/compute-snapshot.json';

const plan: FinishInput['plan'] = {
  mode: 'rotate',
  dryRun: false,
  reason: 'manual',
  trigger: { kind: 'manual' },
  target: { keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/new', keyId: 'new', region: REGION },
  useCases: ['MANAGED_SERVICES'],
  reuseKeyForClusterVolumes: true,
  activeRuns: 'wait',
  drainTimeoutMinutes: 60,
  oldKeyRetentionHours: 24,
  storageWaitSeconds: 0,
  emergency: false,
  maxConcurrency: 2,
  workspaces: [],
  oldKeyArns: ['arn:aws:kms:eu-west-1:111122223333:key/old'],
};

/** A Cause as Step Functions records it from a Lambda Task: the runtime's JSON error object. */
function lambdaCause(name: string, message: string): string {
  const trace = [`${name}: ${message}`, '    at finish (file:///var/task/index.mjs:1:977)'];
  return JSON.stringify({ errorType: name, errorMessage: message, trace });
}

/** The error "Finish rotation" fails the execution with, made by the code that makes it (lib/retention.ts). */
function rotationError(rotations: RotationResult[]): { error: string; cause: string } {
  try {
    finishRotation({ plan, rotations }, 0);
  } catch (e) {
    const error = e as Error;
    return { error: error.name, cause: lambdaCause(error.name, error.message) };
  }
  throw new Error('finishRotation did not fail');
}

const failedRotation = () =>
  rotationError([
    {
      workspaceId: 111,
      status: 'FAILED',
      error: 'WorkspaceUpdateReverted',
      cause: lambdaCause('WorkspaceUpdateReverted', 'workspace 111 is RUNNING but still on the old key'),
      keyChanged: false,
      computeRestored: true,
    },
    {
      workspaceId: 222,
      status: 'FAILED',
      error: 'ComputeNotRestored',
      cause: 'cluster 0101-abc did not start: QUOTA_EXCEEDED',
      keyChanged: true,
      computeRestored: false,
      restoreError: 'ComputeNotRestored',
      restoreCause: 'retries exhausted',
      stillStopped: STILL_STOPPED,
    },
    { workspaceId: 333, status: 'ROTATED', keyChanged: true, update: { patchedAt: 1 } },
  ]);

const facts = (over: Partial<ExecutionFacts> = {}): ExecutionFacts => ({
  executionArn: EXECUTION,
  name: 'rotate-2026-11-26',
  status: 'FAILED',
  region: REGION,
  startDate: Date.parse('2026-11-26T12:00:00Z'),
  stopDate: Date.parse('2026-11-26T13:30:00Z'),
  ...over,
});

describe('parseRotationFailure', () => {
  it('reads back each failed workspace, its error, cause, key and compute from the combined error', () => {
    // Prepare
    const { cause } = failedRotation();
    // Act
    const parsed = parseRotationFailure(causeText(cause));
    // Assess
    expect(parsed).toMatchObject({ failedCount: 2, totalCount: 3, rotated: ['333'], notDetailed: 0 });
    expect(parsed?.failed.sort()).toEqual(['111', '222*']);
    const byId = Object.fromEntries((parsed?.workspaces ?? []).map((w) => [w.workspaceId, w]));
    expect(byId['111']).toEqual({
      workspaceId: '111',
      error: 'WorkspaceUpdateReverted',
      cause: 'workspace 111 is RUNNING but still on the old key',
      keyChanged: false,
      compute: 'compute restored to its pre-rotation state',
    });
    expect(byId['222']).toMatchObject({
      error: 'ComputeNotRestored',
      cause: 'cluster 0101-abc did not start: QUOTA_EXCEEDED',
      keyChanged: true,
    });
    expect(byId['222']?.compute).toContain(
      'compute NOT fully restored (ComputeNotRestored: retries exhausted)',
    );
    expect(byId['222']?.compute).toContain(STILL_STOPPED);
  });

  it('keeps every failed id when the error had no room to detail them all', () => {
    // Prepare: 600 failures overflow the error's cap; the ids come first and the details stop early.
    const rotations: RotationResult[] = Array.from({ length: 600 }, (_, i) => ({
      workspaceId: 1_000_000 + i,
      status: 'FAILED' as const,
      error: 'DrainTimeout',
      cause: `runs still active; ${'x'.repeat(250)}`,
      computeRestored: true,
    }));
    const { cause } = rotationError(rotations);
    // Act
    const parsed = parseRotationFailure(causeText(cause));
    // Assess
    expect(parsed?.failedCount).toBe(600);
    expect(parsed?.failed.length).toBeGreaterThan(0);
    expect((parsed?.failed.length ?? 0) + (parsed?.failedNotListed ?? 0)).toBe(600);
    expect((parsed?.workspaces.length ?? 0) + (parsed?.notDetailed ?? 0)).toBe(600);
    for (const w of parsed?.workspaces ?? []) expect(w.error).toBe('DrainTimeout');
  });

  it('does not mistake a workspace named inside a cause for an entry of its own', () => {
    // Prepare
    const { cause } = rotationError([
      {
        workspaceId: 5,
        status: 'FAILED',
        error: 'WorkspaceBusy',
        cause: 'workspace 5 is locked by execution arn:aws:states:eu-west-1:1:execution:x:y since 12:00',
        computeRestored: true,
      },
    ]);
    // Act
    const parsed = parseRotationFailure(causeText(cause));
    // Assess
    expect(parsed?.workspaces).toHaveLength(1);
    expect(parsed?.workspaces[0]?.cause).toBe(
      'workspace 5 is locked by execution arn:aws:states:eu-west-1:1:execution:x:y since 12:00',
    );
  });

  it('answers undefined for any other cause', () => {
    expect(parseRotationFailure('KMS key arn:aws:kms:… is Disabled (DisableKey)')).toBeUndefined();
    expect(parseRotationFailure('')).toBeUndefined();
  });
});

describe('formatExecutionEnded', () => {
  it('names the execution, its status, each workspace with its error and cause, and what is still stopped', () => {
    // Prepare
    const { error, cause } = failedRotation();
    // Act
    const { subject, message } = formatExecutionEnded(facts({ error, cause }));
    // Assess
    expect(subject).toBe(`cmk-rotator: rotate-2026-11-26 FAILED (${error})`);
    expect(message).toContain('execution rotate-2026-11-26 ended FAILED at 2026-11-26T13:30:00.000Z');
    expect(message).toContain(`Execution: ${EXECUTION}`);
    expect(message).toContain('2 of 3 workspace(s) failed:');
    expect(message).toContain(
      '- workspace 111: WorkspaceUpdateReverted: workspace 111 is RUNNING but still on the old key; key change not confirmed; compute restored to its pre-rotation state',
    );
    expect(message).toMatch(
      /- workspace 222: ComputeNotRestored: cluster 0101-abc did not start: QUOTA_EXCEEDED; key changed;/,
    );
    const stopped = message.slice(message.indexOf('STILL STOPPED'));
    expect(stopped).toContain('- workspace 222: compute NOT fully restored');
    expect(stopped).toContain('cluster 0101-abc');
    expect(stopped).toContain('schedules still paused: job 42');
    expect(stopped).not.toContain('workspace 111');
    expect(message).toContain('Rotated (keep the old key usable for the retention time): 333.');
    expect(message).toContain(
      'Key changed before the failure (keep the old key usable for the retention time too): 222.',
    );
  });

  it('links the execution in the console and gives the CLI command', () => {
    // Act
    const { message } = formatExecutionEnded(facts({ error: 'KeyDisabled', cause: 'the key is disabled' }));
    // Assess
    expect(message).toContain(
      `Console: https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${EXECUTION}`,
    );
    expect(consoleLink(REGION, EXECUTION)).toBe(
      `https://${REGION}.console.aws.amazon.com/states/home?region=${REGION}#/v2/executions/details/${EXECUTION}`,
    );
    expect(message).toContain(
      `CLI: aws stepfunctions describe-execution --region ${REGION} --execution-arn ${EXECUTION} --query '[status,error,cause]'`,
    );
  });

  it('falls back to the whole cause, clipped, when it is not a rotation error', () => {
    // Prepare
    const long = `KMS key arn:aws:kms:eu-west-1:111122223333:key/k is Disabled. ${'detail '.repeat(3_000)}`;
    // Act
    const { message } = formatExecutionEnded(
      facts({ error: 'KeyInUseDisabled', cause: lambdaCause('KeyInUseDisabled', long) }),
    );
    // Assess
    const line = message.split('\n').find((l) => l.startsWith('Cause: ')) ?? '';
    expect(line.startsWith('Cause: KMS key arn:aws:kms:eu-west-1:111122223333:key/k is Disabled.')).toBe(
      true,
    );
    expect(line.length).toBeLessThanOrEqual('Cause: '.length + 8_001);
    expect(line.endsWith('…')).toBe(true);
    expect(message).not.toContain('errorType');
    expect(message).not.toContain('index.mjs');
  });

  it('lists what a cause that is not a rotation error says is still stopped', () => {
    // Prepare
    const cause =
      'workspace 77 is still PROVISIONING after 180 min; compute NOT restored: still stopped: cluster c-1, warehouse w-2; schedules still paused: job 9; snapshot s3://b/e/77/compute-snapshot.json';
    // Act
    const { message } = formatExecutionEnded(facts({ error: 'WorkspaceStillUpdating', cause }));
    // Assess
    const stopped = message.slice(message.indexOf('STILL STOPPED'));
    expect(stopped).toContain('- compute NOT restored: still stopped: cluster c-1, warehouse w-2');
    expect(stopped).toContain('- schedules still paused: job 9');
  });

  it('warns that compute may be stopped when an execution was aborted, even without a cause', () => {
    // Act
    const { subject, message } = formatExecutionEnded(facts({ status: 'ABORTED' }));
    // Assess
    expect(subject).toBe('cmk-rotator: rotate-2026-11-26 ABORTED');
    expect(message).toContain('Error: (none recorded)');
    expect(message).toContain('compute of the workspaces it was rotating may still be stopped');
    expect(message).toContain('Compute may be stopped: how to restore');
  });

  it('says when the cause could not be read from the execution', () => {
    // Act
    const { message } = formatExecutionEnded(facts({ describeFailed: 'AccessDeniedException' }));
    // Assess
    expect(message).toContain('could not be read from the execution (AccessDeniedException)');
  });

  it('says a rotation succeeded without an error section', () => {
    // Act
    const { subject, message } = formatExecutionEnded(facts({ status: 'SUCCEEDED' }));
    // Assess
    expect(subject).toBe('cmk-rotator: rotate-2026-11-26 SUCCEEDED');
    expect(message).not.toContain('Error:');
    expect(message).toContain('Console: ');
  });

  it('never carries a secret or token found in the cause', () => {
    // Prepare
    const secrets = [
      'dapi0123456789abcdef0123456789abcdef',
      'dose0123456789abcdef0123456789abcdef01',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzcCJ9.c2lnbmF0dXJl',
      'AKIAABCDEFGHIJKLMNOP',
      'hunter2-very-secret',
      'tok_live_abcdefgh',
      'BearerValueXYZ12345',
    ];
    const cause = [
      `request failed with Authorization: Bearer ${secrets[6]}`,
      `client_secret=${secrets[4]}`,
      `"access_token": "${secrets[5]}"`,
      `PAT ${secrets[0]} and secret ${secrets[1]}`,
      `jwt ${secrets[2]} key ${secrets[3]}`,
    ].join('; ');
    // Act
    const { message } = formatExecutionEnded(facts({ error: 'DatabricksAuthError', cause }));
    // Assess
    for (const secret of secrets) expect(message).not.toContain(secret);
    expect(message).toContain('client_secret=[redacted]');
  });

  it('never exceeds what SNS accepts, whatever the cause', () => {
    // Prepare
    const huge = 'ü'.repeat(400_000);
    // Act
    const { message } = formatExecutionEnded(facts({ error: 'X', cause: huge, name: '名'.repeat(2_000) }));
    // Assess
    expect(Buffer.byteLength(message)).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
  });
});

describe('causeText', () => {
  it("reduces a child execution's description to its ARN, status, error and cause, never its input", () => {
    // Prepare: the Cause of a failed states:startExecution.sync Task is the child's description.
    const child = JSON.stringify({
      ExecutionArn: 'arn:aws:states:eu-west-1:111122223333:execution:rotate-one-workspace-prod:111-abc',
      Input: {
        userIdentity: { arn: 'arn:aws:iam::111122223333:user/alice' },
        sourceIPAddress: '203.0.113.7',
      },
      Output: null,
      Status: 'FAILED',
      Error: 'KeyDisabled',
      Cause: lambdaCause('KeyDisabled', 'the key is Disabled'),
    });
    // Act
    const text = causeText(child);
    // Assess
    expect(text).toBe(
      'execution arn:aws:states:eu-west-1:111122223333:execution:rotate-one-workspace-prod:111-abc ended FAILED: KeyDisabled: the key is Disabled',
    );
  });

  it('drops the data fields of any other JSON cause', () => {
    // Act
    const text = causeText(JSON.stringify({ reason: 'bad', input: { sourceIPAddress: '198.51.100.1' } }));
    // Assess
    expect(text).toBe('{"reason":"bad"}');
  });
});

describe('redact', () => {
  it('removes principals, sessions, e-mail and IP addresses, keeping our role names', () => {
    // Prepare
    const text =
      'User: arn:aws:sts::111122223333:assumed-role/Admin/alice@example.com from 203.0.113.7 and 2001:db8::1; arn:aws:iam::111122223333:user/bob; AROAABCDEFGHIJKLMNOPQ:alice';
    // Act
    const out = redact(text);
    // Assess
    for (const leak of ['alice', 'bob', '203.0.113.7', '2001:db8::1', 'AROAABCDEFGHIJKLMNOPQ', 'example.com'])
      expect(out).not.toContain(leak);
    expect(out).toContain('arn:aws:sts::111122223333:assumed-role/Admin/[redacted session]');
  });

  it('leaves times, ARNs of keys and executions, and error names alone', () => {
    // Prepare
    const text =
      'KeyPolicyRejected at 12:00:00 on arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (Fn::Sub, AWS::Region)';
    // Act / Assess
    expect(redact(text)).toBe(text);
  });
});

describe('stillStoppedClauses', () => {
  it('keeps the clauses about stopped or paused compute, not those saying nothing is left', () => {
    expect(
      stillStoppedClauses(
        'the workspace failed; no compute left stopped; no schedule left paused. Compute is stopped on workspace 9',
      ),
    ).toEqual(['Compute is stopped on workspace 9']);
  });
});

describe('fitBytes', () => {
  it('cuts at a character boundary and says it cut', () => {
    // Act
    const out = fitBytes('€'.repeat(1_000), 301);
    // Assess
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(301);
    expect(out).not.toContain('\uFFFD');
    expect(out).toMatch(/cut: the message was longer than SNS allows/);
  });
});
