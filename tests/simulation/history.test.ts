import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import type { EventLog } from '../../local/runner/events.ts';
import { historyEventsOf } from '../../local/runner/history.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';
import { VirtualClock } from '../../local/virtual-time.ts';

async function historyOf(failures: number, items = 0): Promise<number> {
  const task = {
    Type: 'Task',
    Resource: 'arn:aws:lambda:us-east-1:000000000000:function:f',
    Retry: [{ ErrorEquals: ['Flaky'], IntervalSeconds: 1 }],
  };
  const machine = new StateMachine({
    StartAt: 'Call',
    States: {
      Call: { ...task, Next: 'Pause' },
      Pause: { Type: 'Wait', Seconds: 5, Next: 'Each' },
      Each: {
        Type: 'Map',
        ItemsPath: '$.items',
        ItemProcessor: { StartAt: 'Pass', States: { Pass: { Type: 'Pass', End: true } } },
        End: true,
      },
    },
  } as never);
  let calls = 0;
  const clock = new VirtualClock({ startEpochMs: 0 });
  return clock.run(async () => {
    const execution = machine.run(
      { items: Array.from({ length: items }, (_, i) => i) },
      {
        overrides: {
          taskResourceLocalHandlers: {
            Call: async () => {
              calls++;
              if (calls <= failures) throw Object.assign(new Error('again'), { name: 'Flaky' });
              return { items: Array.from({ length: items }, (_, i) => i) };
            },
          },
        },
      },
    );
    let total = 0;
    const consume = (async () => {
      for await (const event of execution.eventLogs) total += historyEventsOf(event as EventLog);
    })();
    await execution.result;
    await consume;
    return total;
  });
}

describe('Execution history, counted as Step Functions writes it', () => {
  it('counts a Lambda Task, a Wait and a Map with its iterations as AWS records them', async () => {
    // ExecutionStarted; TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted,
    // LambdaFunctionSucceeded, TaskStateExited; WaitStateEntered, WaitStateExited; MapStateEntered,
    // MapStateStarted, (MapIterationStarted, PassStateEntered, PassStateExited, MapIterationSucceeded) × 2,
    // MapStateSucceeded, MapStateExited; ExecutionSucceeded
    expect(await historyOf(0, 2)).toBe(1 + 5 + 2 + 4 + 2 * 4 + 1);
  });

  it('adds LambdaFunctionFailed, LambdaFunctionScheduled and LambdaFunctionStarted for each retry', async () => {
    expect((await historyOf(2, 0)) - (await historyOf(0, 0))).toBe(2 * 3);
  });
});

describe('Step Functions quotas end the execution outright', () => {
  it('fails with States.Runtime when the history reaches its quota, whatever Catch the states have', async () => {
    // Prepare
    const scenario = await loadScenario(new URL('../../local/scenarios/demo.json', import.meta.url).pathname);
    // Act
    const full = await runScenario(scenario);
    const capped = await runScenario(scenario, { quotas: { historyEvents: 100, payloadBytes: 262_144 } });
    // Assess
    expect(full.status).toBe('SUCCEEDED');
    expect(full.historyEvents).toBeGreaterThan(100);
    // The workspace's own execution reaches it first: it ends outright, and the rotation fails naming it
    // (not restored, where its snapshot is); the child's own Cause stays in its history, not copied here.
    expect(capped.status).toBe('FAILED');
    expect(capped.error?.cause).toContain('ended without a result (States.TaskFailed)');
    expect(capped.error?.cause).toMatch(/1234567890123456\*/);
    // …and the cause says where the details are (the child's history), at a size that fits hundreds.
    expect(capped.error?.cause).toContain('its history (rotate-one-workspace) says what it stopped');
    expect(capped.error?.cause.length).toBeLessThan(2_000);
  });

  it('fails with States.DataLimitExceeded when a state’s payload is over the quota', async () => {
    // Prepare
    const scenario = await loadScenario(new URL('../../local/scenarios/demo.json', import.meta.url).pathname);
    // Act
    const report = await runScenario(scenario, { quotas: { historyEvents: 25_000, payloadBytes: 2_000 } });
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('States.DataLimitExceeded');
    expect(report.error?.cause).toMatch(/^The state\/task '.+' returned a result with a size exceeding/);
  });
});

describe("The execution timeout (the ASL's TimeoutSeconds)", () => {
  it('ends an execution that outlives it with States.Timeout, whatever state it is in', async () => {
    // Prepare: the demo waits 24 h for the old key's retention; a 2-hour timeout ends it inside that wait
    const scenario = await loadScenario(new URL('../../local/scenarios/demo.json', import.meta.url).pathname);
    // Act
    const report = await runScenario(scenario, { executionTimeoutSeconds: 2 * 3600 });
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('States.Timeout');
    expect(report.error?.cause).toContain('timed out after 7200 s');
    expect(report.simulatedSeconds).toBeLessThanOrEqual(7200 + 1);
  });
});

describe('Errors as Step Functions keeps them', () => {
  it('flags a Task error whose name or Lambda cause is over the 256 / 32,768-character limits', async () => {
    // Prepare
    const { checkInvariants } = await import('../../local/runner/invariants.ts');
    const scenario = await loadScenario(new URL('../../local/scenarios/demo.json', import.meta.url).pathname);
    const report = await runScenario(scenario);
    const call = (name: string, causeChars: number) => ({
      state: 'Stop compute',
      fn: 'StopCompute',
      input: {},
      error: { name, message: 'x', causeChars },
      enteredAt: 0,
      exitedAt: 0,
    });
    const check = (calls: ReturnType<typeof call>[]) =>
      checkInvariants(scenario, report, { taskCalls: calls } as never).find(
        (i) => i.name === 'errors-fit-step-functions',
      );
    // Act & Assess
    expect(report.invariants.find((i) => i.name === 'errors-fit-step-functions')?.holds).toBe(true);
    expect(check([call('TransientError', 32_768)])?.holds).toBe(true);
    expect(check([call('TransientError', 32_769)])).toMatchObject({
      holds: false,
      detail: 'Stop compute: TransientError cause of 32769 characters',
    });
    expect(check([call('E'.repeat(257), 10)])?.holds).toBe(false);
  });
});
