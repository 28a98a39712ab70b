import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as lockErrors from '../../lib/lock/errors.ts';
import {
  type AslMachine,
  type AslState,
  allStates,
  CHILD_ASL_PATH,
  readAsl,
} from '../../local/runner/asl.ts';
import { ROOT } from './template.ts';

/**
 * Lints the two state machines the way a reviewer would. The rotation (rotate-workspace-key)
 * starts one execution of rotate-one-workspace per workspace from its Map; an uncaught error inside an
 * iteration would fail the Map and abort every other workspace, and an uncaught error inside the
 * per-workspace machine would skip the compensation and leave compute stopped. So: every Task of a Map
 * iteration, and every Task of the per-workspace machine, retries what is transient and catches the rest
 * into a state of its own machine; every name in ErrorEquals is an error class the code throws or an error
 * the platform raises for that Task's integration.
 */

const parent = JSON.parse(readAsl()) as AslMachine;
const child = JSON.parse(readAsl(CHILD_ASL_PATH)) as AslMachine;
const MACHINES: Record<string, AslMachine> = {
  'rotate-workspace-key': parent,
  'rotate-one-workspace': child,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const path = join(dir, f);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Error classes the product defines (`class X extends <Error or an error class>`), by name. */
const productErrors = (() => {
  const extensions = [...sourceFiles(join(ROOT, 'lib')), ...sourceFiles(join(ROOT, 'functions'))].flatMap(
    (f) =>
      [...readFileSync(f, 'utf8').matchAll(/class (\w+) extends (\w+)/g)].map(
        (m) => [m[1], m[2]] as [string, string],
      ),
  );
  const errors = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const [name, base] of extensions) {
      if (errors.has(name) || (base !== 'Error' && !errors.has(base))) continue;
      errors.add(name);
      grew = true;
    }
  }
  return errors;
})();

/** Errors Step Functions itself raises (the States.* names of the Amazon States Language). */
const STATES = /^States\.[A-Za-z]+$/;
/**
 * What the Lambda integration raises (Step Functions developer guide, "Handling errors": the Lambda service
 * exceptions; Lambda.Unknown and Sandbox.Timedout for a function that timed out or ran out of memory).
 */
const LAMBDA_ERRORS = new Set([
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  'Sandbox.Timedout',
]);
/**
 * What the optimized Step Functions integration (states:startExecution) raises: the StartExecution API's
 * error codes behind `StepFunctions.` (the developer guide's nested-workflow example retries
 * StepFunctions.ExecutionLimitExceeded), and the SDK's client and service base exceptions, named as the Lambda
 * integration names its own (Lambda.SdkClientException, Lambda.AWSLambdaException: the AWS SDK for Java's
 * SdkClientException and AWSStepFunctionsException).
 */
const START_EXECUTION_ERRORS = new Set(
  [
    'ExecutionAlreadyExists',
    'ExecutionLimitExceeded',
    'InvalidArn',
    'InvalidExecutionInput',
    'InvalidName',
    'StateMachineDeleting',
    'StateMachineDoesNotExist',
    'SdkClientException',
    'AWSStepFunctionsException',
  ].map((code) => `StepFunctions.${code}`),
);
/** Transient failures every Lambda Task retries: the service's own, a crash or timeout, and the Task's timeout. */
const TRANSIENT_LAMBDA = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  'Sandbox.Timedout',
  'States.Timeout',
];
const START_CHILD = 'arn:aws:states:::states:startExecution.sync:2';

type Task = {
  Type: string;
  Resource?: string;
  Parameters?: unknown;
  Retry?: Array<{ ErrorEquals: string[] }>;
  Catch?: Array<{ ErrorEquals: string[]; Next: string }>;
};

const isLambdaTask = (s: Pick<Task, 'Type' | 'Resource'>) =>
  s.Type === 'Task' && /^\$\{\w+FunctionArn\}$/.test(s.Resource ?? '');
const tasksOf = (states: Record<string, AslState>) =>
  Object.entries(states).filter(([, s]) => s.Type === 'Task') as Array<[string, Task]>;
const retried = (task: Task) => (task.Retry ?? []).flatMap((r) => r.ErrorEquals);
/** The error names a state may name: its integration's for a Task (a Map or Parallel only has States.*). */
const raisableBy = (state: Task) => (name: string) =>
  STATES.test(name) ||
  (state.Resource === START_CHILD && START_EXECUTION_ERRORS.has(name)) ||
  (isLambdaTask(state) && (LAMBDA_ERRORS.has(name) || productErrors.has(name)));

/** The Map over the workspaces, whose iteration starts the per-workspace execution. */
const iteration = Object.values(parent.States).find((s) => s.ItemProcessor)?.ItemProcessor as AslMachine;
const maps = Object.values(parent.States).filter((s) => s.ItemProcessor) as { ItemSelector?: unknown }[];

describe('The rotation (rotate-workspace-key, lint)', () => {
  it.each(tasksOf(iteration.States))(
    'gives "%s" a Retry and a Catch of every error to a state of the same iteration',
    (_, task) => {
      expect(task.Retry?.length).toBeGreaterThan(0);
      expect(task.Catch?.at(-1)?.ErrorEquals).toEqual(['States.ALL']);
      for (const c of task.Catch ?? []) expect(Object.keys(iteration.States)).toContain(c.Next);
    },
  );

  it('starts each workspace in its own execution of rotate-one-workspace, retrying when too many run', () => {
    const starts = tasksOf(iteration.States);
    expect(starts.map(([, t]) => t.Resource)).toEqual([START_CHILD]);
    const [, start] = starts[0] as [string, Task];
    // The child's input is the item itself, which links it to this execution in the console.
    expect(start.Parameters).toMatchObject({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a DefinitionSubstitutions placeholder.
      StateMachineArn: '${RotateOneWorkspaceStateMachineArn}',
      'Input.$': '$',
    });
    expect(maps).toHaveLength(2);
    for (const map of maps) {
      expect(map.ItemSelector).toMatchObject({
        'AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$': '$$.Execution.Id',
      });
    }
    expect(retried(start)).toContain('StepFunctions.ExecutionLimitExceeded');
  });
});

describe('The per-workspace rotation (rotate-one-workspace, lint)', () => {
  it.each(tasksOf(child.States))(
    'gives "%s" a Retry and a Catch of every error to a state of the same machine',
    (_, task) => {
      expect(task.Retry?.length).toBeGreaterThan(0);
      expect(task.Catch?.at(-1)?.ErrorEquals).toEqual(['States.ALL']);
      for (const c of task.Catch ?? []) expect(Object.keys(child.States)).toContain(c.Next);
    },
  );

  it('ends every path that took the workspace lock at a release of the lock', () => {
    const byFunction = (placeholder: string) =>
      tasksOf(child.States).filter(([, t]) => t.Resource === `\${${placeholder}}`);
    const releases = byFunction('ReleaseWorkspaceLockFunctionArn');
    const [[, acquireTask]] = byFunction('AcquireWorkspaceLockFunctionArn') as [[string, Task]];
    // A failed workspace's release, and a rotated workspace's (which builds the ROTATED result itself).
    expect(releases.map(([name]) => name).sort()).toEqual([
      'Release the lock of the rotated workspace',
      'Release the workspace lock',
    ]);
    const ends = Object.entries(child.States)
      .filter(([, s]) => s.End === true || s.Type === 'Succeed' || s.Type === 'Fail')
      .map(([name]) => name);
    // The releases, what follows a failed release (a Pass with the result's bounded fields), and what
    // follows a lock that was never taken.
    const expected = new Set([
      ...releases.map(([name]) => name),
      ...releases.flatMap(([, t]) => (t.Catch ?? []).map((c) => c.Next)),
      ...(acquireTask.Catch ?? []).map((c) => c.Next),
    ]);
    expect(ends.sort()).toEqual([...expected].sort());
  });
});

describe('Both state machines (lint)', () => {
  it.each(
    Object.entries(MACHINES).flatMap(([machine, m]) =>
      allStates(m)
        .filter(([, s]) => isLambdaTask(s))
        .map(([name, s]) => [`${machine}: ${name}`, s as Task] as const),
    ),
  )('retries the transient Lambda errors in "%s"', (_, task) => {
    expect(retried(task)).toEqual(expect.arrayContaining(TRANSIENT_LAMBDA));
  });

  it('knows the error classes of the lock (lib/lock/errors.ts)', () => {
    const names = Object.keys(lockErrors);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(productErrors.has(name), name).toBe(true);
  });

  it.each(Object.entries(MACHINES))(
    '%s only names errors the code throws or the platform raises for that Task',
    (_, machine) => {
      const unknown = allStates(machine).flatMap(([, s]) => {
        const task = s as Task;
        return [...(task.Retry ?? []), ...(task.Catch ?? [])]
          .flatMap((r) => r.ErrorEquals)
          .filter((name) => !raisableBy(task)(name));
      });
      expect([...new Set(unknown)]).toEqual([]);
    },
  );
});
