import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ExecutionAlreadyExists,
  GetExecutionHistoryCommand,
  type GetExecutionHistoryCommandInput,
  type HistoryEvent,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cli } from './helpers.ts';

/** `cmk-rotator start` and `watch` against a mocked Step Functions client (aws-sdk-client-mock). */
const sfn = mockClient(SFNClient);
const SM = 'arn:aws:states:eu-west-1:111122223333:stateMachine:rotate-workspace-key-prod';
const CHILD_SM = 'arn:aws:states:eu-west-1:111122223333:stateMachine:rotate-one-workspace-prod';
const KEY = 'arn:aws:kms:eu-west-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';

beforeEach(() => {
  sfn.reset();
});

afterAll(() => {
  sfn.restore();
});

describe('cmk-rotator start', () => {
  const base = ['start', '--state-machine-arn', SM, '--workspace-ids', '1234567890123456', '--key-arn', KEY];

  it('validates, then starts with a deterministic name and the canonical input; prints the console link', async () => {
    sfn.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: `${SM.replace(':stateMachine:', ':execution:')}:${input.name}`,
      startDate: new Date(),
    }));
    const run = await cli(base);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    const sent = calls[0]?.args[0].input as { stateMachineArn: string; name: string; input: string };
    expect(sent.stateMachineArn).toBe(SM);
    expect(sent.name).toMatch(/^manual-1234567890123456-[0-9a-f]{12}$/);
    // The input as the plan step will read it: validated, defaults filled in, keys sorted.
    expect(JSON.parse(sent.input)).toEqual({
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      dryRun: false,
      keyArn: KEY,
      reuseKeyForClusterVolumes: true,
      useCases: ['MANAGED_SERVICES'],
      verify: false,
      waitForLock: false,
      workspaceIds: [1234567890123456],
    });
    expect(sent.input).toBe(JSON.stringify(JSON.parse(sent.input)));
    expect(run.stdout).toContain(`Started ${sent.name}`);
    expect(run.stdout).toContain(
      `console:   https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/arn:aws:states:eu-west-1:111122223333:execution:rotate-workspace-key-prod:${sent.name}`,
    );

    // The same request, from a file with the defaults spelled out and keys in another order: the same name.
    const dir = mkdtempSync(join(tmpdir(), 'cmk-rotator-start-'));
    try {
      const file = join(dir, 'rotation.json');
      writeFileSync(
        file,
        JSON.stringify({
          useCases: ['MANAGED_SERVICES'],
          keyArn: KEY,
          activeRuns: 'wait',
          workspaceIds: [1234567890123456],
        }),
      );
      expect((await cli(['start', '--state-machine-arn', SM, '--input', file])).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // A dry run is another request: another name.
    expect((await cli([...base, '--dry-run', '--json'])).code).toBe(0);
    const names = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names[1]).toBe(names[0]);
    expect(names[2]).toMatch(/^dryrun-1234567890123456-[0-9a-f]{12}$/);
    expect(JSON.parse(sfn.commandCalls(StartExecutionCommand)[2]?.args[0].input.input as string).dryRun).toBe(
      true,
    );
  });

  it('starts nothing when the input is invalid (the plan step’s schema) and exits 2', async () => {
    const run = await cli([
      'start',
      '--state-machine-arn',
      SM,
      '--workspace-ids',
      '1234567890123456',
      '--key-arn',
      'not-an-arn',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('InvalidInput: execution input field keyArn is invalid');
    expect(run.stderr).toContain('Nothing was started.');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('needs the state machine ARN, and says how to find it', async () => {
    const run = await cli(['start', '--workspace-ids', '1', '--key-arn', KEY]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--state-machine-arn');
    expect((await cli(['start', '-h'])).stdout).toContain("OutputKey=='StateMachineArn'");
    const typo = await cli(['start', '--state-machine', SM]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean --state-machine-arn?');
  });

  it('says so when the same request is already running (Step Functions answers with that execution)', async () => {
    sfn.on(StartExecutionCommand).resolves({
      executionArn: `${SM.replace(':stateMachine:', ':execution:')}:manual-1234567890123456-0123456789ab`,
      startDate: new Date(Date.now() - 3_600_000),
    });
    const run = await cli(base);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^Already running: manual-1234567890123456-\w{12} \(same name and input, started /,
    );
  });

  it('explains ExecutionAlreadyExists (the same name after the execution ended) and exits 1', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const run = await cli(base);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /ExecutionAlreadyExists: an execution named manual-1234567890123456-\w{12} already ran/,
    );
    expect(run.stderr).toContain('give --name');
  });
});

// ------------------------------------------------------------------------------------------------ watch

const PARENT = `${SM.replace(':stateMachine:', ':execution:')}:manual-1234567890123456-0123456789ab`;
const CHILD = `${CHILD_SM.replace(':stateMachine:', ':execution:')}:1234567890123456-abc`;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A history: events in order, ids from 1, each `at` seconds after T0, each following the one before. */
function history(events: Array<Record<string, unknown> & { at: number }>): HistoryEvent[] {
  return events.map(({ at, ...e }, i) => ({
    ...e,
    id: i + 1,
    previousEventId: i,
    timestamp: new Date(T0 + at * 1000),
  })) as HistoryEvent[];
}

const workspace = { workspaceId: 1234567890123456, workspaceName: 'prod', deploymentName: 'acme-prod' };
const enter = (at: number, name: string, input: unknown = {}, type = 'TaskStateEntered') => ({
  at,
  type,
  stateEnteredEventDetails: { name, input: JSON.stringify(input) },
});
const exit = (at: number, name: string, output: unknown) => ({
  at,
  type: 'TaskStateExited',
  stateExitedEventDetails: { name, output: JSON.stringify(output) },
});
const lambda = (at: number, type: string, details: Record<string, unknown> = {}) => ({
  at,
  type,
  ...details,
});

function parentHistory(end: 'succeeded' | 'failed'): HistoryEvent[] {
  const plan = {
    mode: 'rotate',
    dryRun: false,
    reason: 'manual request: rotating 1 workspace(s)',
    workspaces: [workspace],
  };
  return history([
    { at: 0, type: 'ExecutionStarted', executionStartedEventDetails: { input: '{}' } },
    enter(0, 'Plan the rotation'),
    lambda(0, 'LambdaFunctionScheduled'),
    lambda(1, 'LambdaFunctionSucceeded'),
    exit(1, 'Plan the rotation', { plan }),
    enter(2, 'Rotate the workspace in its own execution', { workspace }),
    lambda(2, 'TaskScheduled'),
    {
      at: 2,
      type: 'TaskSubmitted',
      taskSubmittedEventDetails: {
        resourceType: 'states',
        resource: 'startExecution.sync:2',
        output: JSON.stringify({ ExecutionArn: CHILD, StartDate: T0 }),
      },
    },
    lambda(900, 'TaskSucceeded'),
    exit(900, 'Rotate the workspace in its own execution', {
      workspaceId: 1234567890123456,
      status: end === 'succeeded' ? 'ROTATED' : 'FAILED',
      ...(end === 'failed' ? { error: 'WorkspaceUpdateFailed' } : {}),
    }),
    end === 'succeeded'
      ? {
          at: 901,
          type: 'ExecutionSucceeded',
          executionSucceededEventDetails: {
            output: JSON.stringify({ oldKeyRetirement: { message: 'The old key may now be retired.' } }),
          },
        }
      : {
          at: 901,
          type: 'ExecutionFailed',
          executionFailedEventDetails: {
            error: 'RotationFailed',
            cause: '1 workspace failed: 1234567890123456 WorkspaceUpdateFailed',
          },
        },
  ]);
}

function childHistory(end: 'succeeded' | 'failed'): HistoryEvent[] {
  const item = { workspace };
  const events: Array<Record<string, unknown> & { at: number }> = [
    { at: 2, type: 'ExecutionStarted', executionStartedEventDetails: { input: JSON.stringify({ item }) } },
    enter(3, 'Stop compute', item),
    lambda(3, 'LambdaFunctionScheduled'),
    lambda(4, 'LambdaFunctionSucceeded'),
    exit(4, 'Stop compute', { ...item, compute: { counts: { clusters: 2, pools: 0 }, phase: 'stopping' } }),
    enter(20, 'Check compute stopped', item),
    lambda(20, 'LambdaFunctionScheduled'),
    lambda(21, 'LambdaFunctionSucceeded'),
    exit(21, 'Check compute stopped', { ...item, computeCheck: { status: 'STOPPING' } }),
    enter(40, 'Check compute stopped', item),
    lambda(40, 'LambdaFunctionScheduled'),
    lambda(41, 'LambdaFunctionSucceeded'),
    exit(41, 'Check compute stopped', { ...item, computeCheck: { status: 'STOPPING' } }),
    enter(120, 'Check compute stopped', item),
    lambda(120, 'LambdaFunctionScheduled'),
    lambda(121, 'LambdaFunctionSucceeded'),
    exit(121, 'Check compute stopped', { ...item, computeCheck: { status: 'STOPPED' } }),
    enter(122, 'Update workspace', item),
    lambda(122, 'LambdaFunctionScheduled'),
  ];
  if (end === 'failed') {
    events.push(
      lambda(123, 'LambdaFunctionFailed', {
        lambdaFunctionFailedEventDetails: {
          error: 'WorkspaceUpdateFailed',
          cause: JSON.stringify({
            errorType: 'WorkspaceUpdateFailed',
            errorMessage: 'Databricks refused the PATCH: boom',
          }),
        },
      }),
      exit(123, 'Update workspace', { ...item, failure: { Error: 'WorkspaceUpdateFailed' } }),
      enter(124, 'Workspace failed, compute restored', item, 'PassStateEntered'),
    );
  } else {
    events.push(
      lambda(123, 'LambdaFunctionSucceeded'),
      exit(123, 'Update workspace', {
        ...item,
        update: { patched: true, fields: ['managed_services_customer_managed_key_id'] },
      }),
      enter(124, 'Release the lock of the rotated workspace', item),
      lambda(124, 'LambdaFunctionSucceeded'),
      exit(124, 'Release the lock of the rotated workspace', {
        workspaceId: workspace.workspaceId,
        status: 'ROTATED',
      }),
    );
  }
  events.push({ at: 899, type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: '{}' } });
  return history(events);
}

/**
 * Serves GetExecutionHistory as Step Functions does (newest first with reverseOrder, pages of 4 with a
 * nextToken), revealing `visible(calls)` events of each history as the polls go on.
 */
function serve(histories: Record<string, HistoryEvent[]>, visible: (arn: string, call: number) => number) {
  const calls = new Map<string, number>();
  let reveal = new Map<string, number>();
  sfn.on(GetExecutionHistoryCommand).callsFake((input: GetExecutionHistoryCommandInput) => {
    const arn = input.executionArn as string;
    if (!input.nextToken) {
      const n = (calls.get(arn) ?? 0) + 1;
      calls.set(arn, n);
      reveal = new Map(reveal).set(arn, visible(arn, n));
    }
    const all = (histories[arn] ?? []).slice(0, reveal.get(arn));
    const ordered = input.reverseOrder ? [...all].reverse() : all;
    const start = Number(input.nextToken ?? 0);
    const page = ordered.slice(start, start + 4);
    return { events: page, ...(start + 4 < ordered.length ? { nextToken: String(start + 4) } : {}) };
  });
}

describe('cmk-rotator watch', () => {
  it('follows the execution and its per-workspace execution, printing a timeline; exit 0 on SUCCEEDED', async () => {
    const parent = parentHistory('succeeded');
    const child = childHistory('succeeded');
    // The parent shows up to the child's start first, then everything; the child appears in three steps.
    serve({ [PARENT]: parent, [CHILD]: child }, (arn, call) =>
      arn === PARENT
        ? call === 1
          ? 8
          : call < 4
            ? 8
            : parent.length
        : ([10, 18, child.length][call - 1] ?? child.length),
    );
    const run = await cli(['watch', PARENT, '--interval', '0.001']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines).toEqual([
      '       0s  Execution manual-1234567890123456-0123456789ab started',
      '       1s  Plan: rotate — manual request: rotating 1 workspace(s)',
      '       4s  [prod] Stop compute — snapshot: 2 clusters; stopping',
      '      21s  [prod] Check compute stopped — STOPPING',
      '    2m01s  [prod] Check compute stopped — STOPPED',
      '    2m03s  [prod] Update workspace — PATCH managed_services_customer_managed_key_id',
      '    2m04s  [prod] Release the lock of the rotated workspace — ROTATED',
      '   15m00s  [prod] Rotate the workspace in its own execution — ROTATED',
      '',
      'Result: SUCCEEDED',
      'The old key may now be retired.',
      'Output: {"oldKeyRetirement":{"message":"The old key may now be retired."}}',
      `Console: https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${PARENT}`,
    ]);
    // Each poll read only what was new: never the whole history again.
    const reads = sfn.commandCalls(GetExecutionHistoryCommand).map((c) => c.args[0].input);
    expect(reads.every((r) => r.reverseOrder === true && r.includeExecutionData === true)).toBe(true);
  });

  it('prints a failure with its error and message, and exits 1 with the execution’s error', async () => {
    serve({ [PARENT]: parentHistory('failed'), [CHILD]: childHistory('failed') }, () => 1000);
    const run = await cli(['watch', PARENT, '--interval', '0.001']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      '    2m03s  [prod] Update workspace failed: WorkspaceUpdateFailed: Databricks refused the PATCH: boom',
    );
    // The caught exit is not summarised as a result.
    expect(run.stdout).not.toContain('Update workspace — already set');
    expect(run.stdout).toContain('[prod] Workspace failed, compute restored');
    expect(run.stdout).toContain(
      'Result: FAILED — RotationFailed: 1 workspace failed: 1234567890123456 WorkspaceUpdateFailed',
    );

    sfn.reset();
    serve({ [PARENT]: parentHistory('failed'), [CHILD]: childHistory('failed') }, () => 1000);
    const json = await cli(['watch', '--execution-arn', PARENT, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({
      executionArn: PARENT,
      status: 'FAILED',
      error: 'RotationFailed',
      cause: '1 workspace failed: 1234567890123456 WorkspaceUpdateFailed',
    });
  });

  it('answers a missing or malformed ARN with exit code 2', async () => {
    expect((await cli(['watch'])).code).toBe(2);
    const bad = await cli(['watch', 'manual-123']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not an execution ARN');
    const typo = await cli(['watch', PARENT, '--intervall', '3']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean --interval?');
  });
});
