import { describe, expect, it } from 'vitest';
import {
  assertNotFrozen,
  invokeLambda,
  LambdaContainers,
  lambdaTimeouts,
  SandboxFrozen,
} from '../../local/runner/lambda.ts';
import { VirtualClock } from '../../local/virtual-time.ts';

const options = (clock: VirtualClock, timeoutSeconds: number) => ({
  functionName: 'cmk-rotator-local-f',
  timeoutSeconds,
  clock,
  region: 'us-east-1',
  account: '111122223333',
});

describe('Lambda on the simulated clock', () => {
  it('reads each function’s timeout from serverless.yml', () => {
    // Act
    const timeouts = lambdaTimeouts();
    // Assess
    expect(timeouts['stop-compute']).toBe(290);
    expect(timeouts['finish-rotation']).toBe(30);
    expect(Object.keys(timeouts)).toHaveLength(19);
  });

  it('falls back to the provider timeout, then to the framework’s 6 s', () => {
    // Prepare
    const yml = [
      'provider:',
      '  name: aws',
      '  timeout: 20',
      '',
      'functions:',
      '  a:',
      '    handler: functions/a.handler',
      '  b:',
      '    handler: functions/b.handler',
      '    timeout: 90',
      '',
      'resources:',
      '  x: 1',
    ].join('\n');
    // Act & Assess
    expect(lambdaTimeouts(yml)).toEqual({ a: 20, b: 90 });
    expect(lambdaTimeouts(yml.replace('  timeout: 20\n', ''))).toEqual({ a: 6, b: 90 });
  });

  it('fails a handler that overruns its timeout in simulated time as Sandbox.Timedout, and freezes it', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    let afterTimeout: unknown;
    let remainingAtStart = 0;
    // Act
    const outcome = await clock.run(async () => {
      const error = await invokeLambda(
        async (_event, context) => {
          remainingAtStart = context.getRemainingTimeInMillis();
          await clock.sleep(120_000);
          try {
            assertNotFrozen('a Databricks call');
          } catch (e) {
            afterTimeout = e;
          }
          return 'late';
        },
        {},
        options(clock, 60),
      ).catch((e: Error) => e);
      await clock.sleep(120_000);
      return error as Error;
    });
    // Assess
    expect(remainingAtStart).toBe(60_000);
    expect(outcome.name).toBe('Sandbox.Timedout');
    expect(JSON.parse(outcome.message)).toEqual({
      errorType: 'Sandbox.Timedout',
      errorMessage: expect.stringMatching(/Task timed out after 60\.00 seconds$/),
    });
    expect(afterTimeout).toBeInstanceOf(SandboxFrozen);
  });

  it('delivers a thrown error as Step Functions sees it: Error = its name, Cause = the runtime’s JSON', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    class WorkspaceUpdateReverted extends Error {
      override name = 'WorkspaceUpdateReverted';
    }
    // Act
    const error = (await clock.run(() =>
      invokeLambda(
        async () => {
          throw new WorkspaceUpdateReverted('the workspace went back to the old key');
        },
        {},
        options(clock, 30),
      ).catch((e: Error) => e),
    )) as Error;
    // Assess
    expect(error.name).toBe('WorkspaceUpdateReverted');
    const cause = JSON.parse(error.message);
    expect(cause.errorType).toBe('WorkspaceUpdateReverted');
    expect(cause.errorMessage).toBe('the workspace went back to the old key');
    expect(cause.trace[0]).toBe('WorkspaceUpdateReverted: the workspace went back to the old key');
  });

  it('counts the remaining time down in simulated time', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    // Act
    const remaining = await clock.run(() =>
      invokeLambda(
        async (_event, context) => {
          await clock.sleep(45_000);
          return context.getRemainingTimeInMillis();
        },
        {},
        options(clock, 290),
      ),
    );
    // Assess
    expect(remaining).toBe(245_000);
  });

  it('runs concurrent invocations in separate containers, reuses an idle one, and drops one that timed out', async () => {
    // Prepare
    const clock = new VirtualClock({ startEpochMs: 0 });
    const containers = new LambdaContainers();
    const streamOf = (sleepMs: number, fn = 'cmk-rotator-local-f', timeoutSeconds = 60) =>
      invokeLambda(
        async (_event, context) => {
          await clock.sleep(sleepMs);
          return context.logStreamName;
        },
        {},
        { ...options(clock, timeoutSeconds), functionName: fn, containers },
      ).catch((e: Error) => e.name);
    // Act
    const streams = await clock.run(async () => {
      const together = await Promise.all([streamOf(1_000), streamOf(2_000)]);
      const later = await streamOf(1_000);
      const other = await streamOf(1_000, 'cmk-rotator-local-g');
      const timedOut = await streamOf(120_000, 'cmk-rotator-local-g', 30);
      await clock.sleep(120_000);
      const afterTimeout = await streamOf(1_000, 'cmk-rotator-local-g');
      return { together, later, other, timedOut, afterTimeout };
    });
    // Assess
    const [a, b] = streams.together;
    expect(a).not.toBe(b);
    expect(streams.later).toBe(a);
    expect([a, b]).not.toContain(streams.other);
    expect(streams.timedOut).toBe('Sandbox.Timedout');
    // The timed-out invocation ran in g's only container (idle then), which is not used again.
    expect([a, b, streams.other]).not.toContain(streams.afterTimeout);
    expect(containers.coldStarts).toBe(4);
  });
});
