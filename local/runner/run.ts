import { AsyncLocalStorage } from 'node:async_hooks';
import { existsSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';
import { handler as releaseLocksOnAbort } from '../../functions/release-locks-on-abort.ts';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { setClock } from '../../lib/clock.ts';
import { setSnapshotS3Client } from '../../lib/compute/snapshot-store.ts';
import { clearCredentialsCache } from '../../lib/databricks/credentials.ts';
import { clearDatabricksClients, setDatabricksFetch } from '../../lib/databricks/index.ts';
import { causeMessage } from '../../lib/errors.ts';
import { startLocalLockTable } from '../aws/dynamodb.ts';
import { FaultPlan, faultError } from '../aws/faults.ts';
import { knownPrincipals, LocalKms } from '../aws/kms.ts';
import { LocalS3 } from '../aws/s3.ts';
import { LocalSecretsManager, secretArn } from '../aws/secrets-manager.ts';
import { startEmulator } from '../emulator/index.ts';
import { InvalidScenario, SCENARIO_SETTINGS, type Scenario } from '../scenario.ts';
import { VirtualClock } from '../virtual-time.ts';
import {
  ASL_PATH,
  type AslMachine,
  allStates,
  CHILD_ASL_PATH,
  functionOf,
  readAsl,
  resolveHashes,
  substituteArns,
  withMarkedHashes,
} from './asl.ts';
import type { EventLog } from './events.ts';
import { historyEventsOf, quotaError, STEP_FUNCTIONS_QUOTAS } from './history.ts';
import {
  assertNotFrozen,
  invokeLambda,
  LambdaContainers,
  LambdaTaskError,
  lambdaTimeouts,
} from './lambda.ts';
import { serialized, withLatency } from './latency.ts';
import { buildReport, type Report, type RunTrace } from './report.ts';

/** The Lambda module behind each `${XFunctionArn}` placeholder of the ASL. */
export const FUNCTION_MODULES: Record<string, string> = {
  Plan: 'plan',
  PatchKeyPolicy: 'patch-key-policy',
  RegisterKeyConfig: 'register-key-config',
  StopCompute: 'stop-compute',
  CheckComputeStopped: 'check-compute-stopped',
  UpdateWorkspace: 'update-workspace',
  CheckWorkspace: 'check-workspace',
  RestoreCompute: 'restore-compute',
  CheckComputeRestored: 'check-compute-restored',
  CheckWorkspaceSettled: 'check-workspace-settled',
  ReportComputeNotRestored: 'report-compute-not-restored',
  Verify: 'verify',
  FinishRotation: 'finish-rotation',
  AnnounceRetention: 'announce-retention',
  AcquireWorkspaceLock: 'acquire-workspace-lock',
  ReleaseWorkspaceLock: 'release-workspace-lock',
  LoadWorkspacePlan: 'load-workspace-plan',
};

type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface RunOptions {
  /**
   * Pacing for watching: simulated seconds per real second (0 or absent = as fast as the machine goes).
   * Time is virtual, so the report is the same whatever the pacing.
   */
  timeScale?: number;
  /** Called for every execution event, with the simulated seconds at which it was seen. */
  onEvent?: (event: EventLog, simSeconds: number) => void;
  /** Step Functions quotas to enforce (default: AWS' own; tests lower them to reach the breach path). */
  quotas?: { historyEvents: number; payloadBytes: number };
  /** Replaces every state machine's execution `TimeoutSeconds` (tests reach the timed-out path with it). */
  executionTimeoutSeconds?: number;
  /**
   * Replaces the `TimeoutSeconds` of the machines named here only (e.g. `rotate-one-workspace`: a child
   * execution that times out while its parent goes on).
   */
  executionTimeoutSecondsOf?: Record<string, number>;
  /** Execution name (`$$.Execution.Name`); snapshots are keyed by it. */
  executionName?: string;
}

/**
 * Runs one scenario end to end on this machine: the Databricks emulator over HTTP, the local KMS and
 * Secrets Manager stand-ins behind the AWS SDK client interface, and the real ASL executed by
 * aws-local-stepfunctions with each Task mapped to its real handler. Returns the report (README § Scenarios and reports).
 */
export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<Report> {
  if (scenario.input === undefined && scenario.executions === undefined) {
    throw new InvalidScenario(
      'scenario field input (or executions) is required to run: the execution input or an EventBridge event',
      {
        details: { field: 'input' },
      },
    );
  }
  const timeouts = lambdaTimeouts();
  // The state machines exactly as deployed: the rotation and, when present, the one-workspace child.
  const machines = MACHINES.filter((m) => m.required || existsSync(m.path)).map((m) => {
    const text = readAsl(m.path);
    return {
      ...m,
      deployed: JSON.parse(text) as AslMachine,
      machine: new StateMachine(
        withAwsTaskTimeouts(JSON.parse(withMarkedHashes(substituteArns(text))) as AslMachine) as never,
        {
          validationOptions: { checkArn: true, checkPaths: true },
        },
      ),
    };
  });
  const handlers = await loadHandlers(machines.map((m) => m.deployed));
  const [parent] = machines;
  if (!parent) throw new Error('no state machine definition found');
  const childOf = (arn: string) => machines.find((m) => arn.endsWith(`:stateMachine:${m.name}`));
  const clock = new VirtualClock({ timeScale: options.timeScale ?? 0, seed: scenario.databricks.seed });
  const emulator = await startEmulator(scenario, { clock });
  const faults = new FaultPlan(scenario.aws.faults);
  const s3 = new LocalS3();
  const kms = new LocalKms(scenario.aws.keys, {
    accountId: scenario.aws.accountId,
    region: scenario.aws.region,
    // IAM principals that exist: PutKeyPolicy refuses a policy naming any other (local/aws/kms.ts).
    principals: knownPrincipals(scenario),
    clock,
  });
  const secrets = new LocalSecretsManager(scenario.aws.secrets, {
    accountId: scenario.aws.accountId,
    region: scenario.aws.region,
  });
  // The lock table in an embedded DynamoDB (dynalite): the product's own DynamoDB calls, conditions and errors.
  const lockTable = await startLocalLockTable();
  const previousClock = setClock(clock);
  const previousEnv = { ...process.env };
  try {
    Object.assign(process.env, productEnv(scenario, emulator), { LOCK_TABLE: lockTable.table });
    // Each AWS call takes its simulated round trip (local/runner/latency.ts), then meets the scenario's faults.
    const seed = scenario.databricks.seed;
    setAwsClients({
      kms: withLatency(faults.wrap('kms', kms), 'kms', clock, seed),
      secretsManager: withLatency(faults.wrap('secretsManager', secrets), 'secretsManager', clock, seed),
      dynamodb: serialized(lockTable.client, 'dynamodb', clock, seed),
    });
    setSnapshotS3Client(withLatency(faults.wrap('s3', s3), 's3', clock, seed));
    // Databricks calls go to the emulator in process: every request is visible to virtual time.
    setDatabricksFetch((input, init) => {
      assertNotFrozen('a Databricks call');
      return emulator.fetch(input, init);
    });
    clearCredentialsCache();
    // Lambda's execution environments: what each keeps between invocations is its own.
    const containers = new LambdaContainers();

    const trace: RunTrace = {
      startedAtSim: clock.seconds(),
      states: [],
      taskCalls: [],
      maxPayloadBytes: 0,
      retainUntil: undefined,
      historyEvents: 0,
    };
    const localHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    const executions: ExecutionRecord[] = [];
    for (const [name, state] of machines.flatMap((m) => allStates(m.deployed))) {
      if (state.Type !== 'Task') continue;
      if (state.Resource === START_EXECUTION_SYNC) {
        // A child execution, run in process on the same clock, counted as its own execution.
        localHandlers[name] = (input) => runChild(resolveHashes(input) as StartExecutionInput);
        continue;
      }
      const fn = functionOf(state);
      const handler = fn ? handlers[fn] : undefined;
      if (!fn || !handler)
        throw new Error(`state "${name}" has no local handler (Resource ${state.Resource})`);
      localHandlers[name] = async (input) => {
        const enteredAt = clock.seconds();
        const event = resolveHashes(JSON.parse(JSON.stringify(input)));
        try {
          // A Lambda fault of the scenario: before the handler (it never ran) or after it (its answer is lost).
          const fault = faults.take('lambda', name);
          if (fault && !fault.after) throw faultError(fault, `Task "${name}"`);
          const module = FUNCTION_MODULES[fn] as string;
          const answer = await invokeLambda(handler, event, {
            functionName: `cmk-rotator-local-${module}`,
            timeoutSeconds: timeouts[module] ?? 6,
            containers,
            clock,
            region: scenario.aws.region,
            account: scenario.aws.accountId,
          });
          if (fault?.after) throw faultError(fault, `Task "${name}" (after it ran)`);
          const output = JSON.parse(JSON.stringify(answer ?? null));
          trace.taskCalls.push({
            state: name,
            fn,
            input: event,
            output,
            enteredAt,
            exitedAt: clock.seconds(),
          });
          if (fn === 'FinishRotation') trace.retainUntil = (output as { retainUntil?: string }).retainUntil;
          return output;
        } catch (error) {
          const e = error as Error;
          trace.taskCalls.push({
            state: name,
            fn,
            input: event,
            error: {
              name: e.name,
              message: error instanceof LambdaTaskError ? causeMessage(e.message) : e.message,
              causeChars: e.message.length,
            },
            enteredAt,
            exitedAt: clock.seconds(),
          });
          throw error;
        }
      };
    }

    const open = new Map<string, { name: string; enteredAt: number; index?: number }>();
    const simSeconds = (epochMs: number) => (epochMs - clock.epochMsAt(0)) / 1000;
    const quotas = options.quotas ?? STEP_FUNCTIONS_QUOTAS;
    const region = scenario.aws.region;
    const account = scenario.aws.accountId;
    let children = 0;

    /**
     * Runs one execution of `m` to its end, counting its history and payloads as Step Functions does and
     * ending it as Step Functions would at a quota (local/runner/history.ts).
     */
    /**
     * The running child executions of each execution (by name), to stop with it: Step Functions stops a
     * child started with `startExecution.sync` when the parent's Task is stopped — the execution timed out
     * or was aborted — which is why its IAM policy for nested `.sync` calls grants `states:StopExecution` on
     * the children (AWS Step Functions Developer Guide, "IAM policies for nested Step Functions calls").
     */
    const runningChildren = new Map<string, Set<() => void>>();
    const stopChildrenOf = (parent: string) => {
      for (const stop of runningChildren.get(parent) ?? []) stop();
    };

    const execute = async (
      m: (typeof machines)[number],
      input: unknown,
      name: string,
      iteration: number | undefined,
    ): Promise<ExecutionRecord> => {
      const record: ExecutionRecord = {
        name,
        parent: currentExecution.getStore()?.name,
        stateMachine: m.name,
        status: 'SUCCEEDED',
        output: null,
        error: null,
        historyEvents: 0,
        maxStatePayloadBytes: 0,
      };
      executions.push(record);
      const execution = currentExecution.run(record, () =>
        m.machine.run(input as never, {
          context: {
            Execution: {
              Id: `arn:aws:states:${region}:${account}:execution:${m.name}:${name}`,
              Name: name,
              Input: input,
              StartTime: new Date(clock.now()).toISOString(),
              RoleArn: `arn:aws:iam::${account}:role/cmk-rotator-local-state-machine`,
            },
            StateMachine: { Id: `arn:aws:states:${region}:${account}:stateMachine:${m.name}`, Name: m.name },
          } as never,
          overrides: { taskResourceLocalHandlers: localHandlers as never },
        }),
      );
      let breach: { name: string; cause: string } | undefined;
      // The execution's own timeout (the ASL's top-level TimeoutSeconds): Step Functions ends it TIMED_OUT
      // with States.Timeout, whatever state it is in. A virtual timer, cleared when the execution ends.
      const timeoutSeconds =
        options.executionTimeoutSecondsOf?.[m.name] ??
        options.executionTimeoutSeconds ??
        (m.deployed as { TimeoutSeconds?: number }).TimeoutSeconds;
      const timer =
        timeoutSeconds === undefined
          ? undefined
          : setTimeout(() => {
              if (breach) return;
              breach = {
                name: 'States.Timeout',
                cause: `The execution timed out after ${timeoutSeconds} s (the state machine's TimeoutSeconds); it ended TIMED_OUT.`,
              };
              execution.abort();
              stopChildrenOf(name);
            }, timeoutSeconds * 1000);
      // A child is stopped with its parent (above): it ends ABORTED, and the rule sends its own event.
      let stopped = false;
      const stopThis = () => {
        if (breach) return;
        stopped = true;
        breach = {
          name: 'ExecutionAborted',
          cause: `stopped by Step Functions because its parent execution ${record.parent} ended while it ran; it ended ABORTED.`,
        };
        execution.abort();
        stopChildrenOf(name);
      };
      const siblings =
        record.parent === undefined ? undefined : (runningChildren.get(record.parent) ?? new Set());
      if (siblings && record.parent !== undefined) {
        siblings.add(stopThis);
        runningChildren.set(record.parent, siblings);
      }
      const consume = (async () => {
        for await (const event of execution.eventLogs) {
          // The interpreter stamps events with Date.now(), which is the virtual clock inside the run.
          const now = simSeconds(event.timestamp);
          record.historyEvents += historyEventsOf(event);
          if (
            !breach &&
            record.historyEvents >= quotas.historyEvents &&
            event.type !== 'ExecutionSucceeded'
          ) {
            breach = quotaError('history', undefined, quotas.historyEvents);
            execution.abort();
          }
          if (event.type === 'StateEntered' || event.type === 'StateExited') {
            const bytes = Buffer.byteLength(JSON.stringify(event.state.output ?? event.state.input ?? null));
            record.maxStatePayloadBytes = Math.max(record.maxStatePayloadBytes, bytes);
            if (!breach && bytes > quotas.payloadBytes) {
              breach = quotaError('payload', event.state.name);
              execution.abort();
            }
            const index = event.index ?? iteration;
            const key = `${name}:${index ?? '-'}:${event.state.name}`;
            if (event.type === 'StateEntered')
              open.set(key, { name: event.state.name, enteredAt: now, index });
            else {
              const entered = open.get(key);
              open.delete(key);
              trace.states.push({
                name: event.state.name,
                type: event.state.type,
                index,
                enteredAt: entered?.enteredAt ?? now,
                exitedAt: now,
              });
            }
          }
          // A child's events carry the workspace's iteration, as the inline Map's did.
          const own = (event as { index?: number }).index;
          options.onEvent?.(
            own === undefined && iteration !== undefined
              ? ({ ...event, index: iteration } as EventLog)
              : event,
            now,
          );
        }
      })();
      try {
        record.output = await execution.result;
      } catch (e) {
        record.status = 'FAILED';
        record.error = executionError(e);
      }
      clearTimeout(timer);
      siblings?.delete(stopThis);
      await consume;
      if (breach) {
        record.status = 'FAILED';
        record.output = null;
        record.error = breach;
      }
      if (record.status === 'FAILED') {
        await executionEnded(
          m,
          name,
          stopped ? 'ABORTED' : breach?.name === 'States.Timeout' ? 'TIMED_OUT' : 'FAILED',
        );
      }
      return record;
    };

    /**
     * The rule `ReleaseLocksOnAbortRule`: Step Functions sends "Step Functions Execution Status Change" when
     * an execution of either machine ends ABORTED, TIMED_OUT or FAILED, and the rule invokes
     * release-locks-on-abort, which frees the locks that execution (or its children) still hold. Delivered
     * at once (EventBridge delivers within seconds); a failed delivery leaves the lock to its lease, as the
     * dead-letter queue would.
     */
    async function executionEnded(
      m: (typeof machines)[number],
      name: string,
      status: 'ABORTED' | 'TIMED_OUT' | 'FAILED',
    ): Promise<void> {
      const executionArn = `arn:aws:states:${region}:${account}:execution:${m.name}:${name}`;
      const event = {
        version: '0',
        id: `local-${m.name}-${name}-${status}`,
        'detail-type': 'Step Functions Execution Status Change',
        source: 'aws.states',
        account,
        time: new Date(clock.now()).toISOString(),
        region,
        resources: [executionArn],
        detail: {
          executionArn,
          stateMachineArn: `arn:aws:states:${region}:${account}:stateMachine:${m.name}`,
          name,
          status,
        },
      };
      try {
        await invokeLambda(releaseLocksOnAbort, event, {
          functionName: 'cmk-rotator-local-release-locks-on-abort',
          timeoutSeconds: timeouts['release-locks-on-abort'] ?? 6,
          containers,
          clock,
          region,
          account,
        });
      } catch {
        // Left to the lease, as an event in the dead-letter queue would be.
      }
    }

    /**
     * `states:startExecution.sync:2`: starts the child and waits for it. Succeeded → the Task's result is
     * `{ ExecutionArn, Status, Output }` with `Output` as JSON; failed, aborted or timed out → the Task fails
     * with `States.TaskFailed`, the cause being the child's description (Step Functions developer guide,
     * "Start a new AWS Step Functions state machine execution").
     */
    async function runChild(input: StartExecutionInput): Promise<unknown> {
      const m = childOf(String(input.StateMachineArn));
      if (!m) throw new Error(`no local state machine for ${String(input.StateMachineArn)}`);
      const iteration = children++;
      const name = String(input.Name ?? `${m.name}-${iteration}`);
      const child = await execute(m, input.Input ?? {}, name, iteration);
      const arn = `arn:aws:states:${region}:${account}:execution:${m.name}:${name}`;
      if (child.status === 'SUCCEEDED')
        return { ExecutionArn: arn, Status: 'SUCCEEDED', Output: child.output };
      const failed = new Error(
        JSON.stringify({
          ExecutionArn: arn,
          Status: 'FAILED',
          Error: child.error?.name,
          Cause: child.error?.cause,
        }),
      );
      failed.name = 'States.TaskFailed';
      throw failed;
    }

    // Everything from here runs in virtual time: the interpreter's Wait states, Retry intervals and Task
    // timeouts, the handlers, the emulators. Deterministic names unless given: the same scenario gives the
    // same executions (and snapshot keys).
    const planned = scenario.executions ?? [
      { input: scenario.input, startAtSeconds: 0, name: options.executionName ?? `local-${scenario.name}` },
    ];
    const started = await clock.run(() =>
      Promise.all(
        planned.map(async (e, i) => {
          if (e.startAtSeconds > 0) await clock.sleep(e.startAtSeconds * 1000);
          return execute(parent, e.input, e.name ?? `local-${scenario.name}-${i + 1}`, undefined);
        }),
      ),
    );
    const failed = started.find((e) => e.status === 'FAILED');
    const status = failed ? 'FAILED' : 'SUCCEEDED';
    const output = started[0]?.output ?? null;
    const error = failed?.error ?? null;
    // Each started execution's figures are the largest of its own and its children's.
    const family = (e: ExecutionRecord) => executions.filter((x) => x === e || x.parent === e.name);
    const perExecution = started.map((e) => ({
      name: e.name,
      status: e.status,
      error: e.error,
      historyEvents: Math.max(...family(e).map((x) => x.historyEvents)),
      maxStatePayloadBytes: Math.max(...family(e).map((x) => x.maxStatePayloadBytes)),
    }));
    trace.historyEvents = Math.max(...executions.map((e) => e.historyEvents));
    trace.maxPayloadBytes = Math.max(...executions.map((e) => e.maxStatePayloadBytes));
    trace.executions = perExecution;
    for (const { name, enteredAt, index } of open.values()) {
      trace.states.push({ name, type: 'Unknown', index, enteredAt, exitedAt: clock.seconds() });
    }
    return buildReport({
      scenario,
      emulator,
      kms,
      trace,
      status,
      output,
      error,
      endedAtSim: clock.seconds(),
    });
  } finally {
    setClock(previousClock);
    for (const key of Object.keys(process.env)) if (!(key in previousEnv)) delete process.env[key];
    Object.assign(process.env, previousEnv);
    clearDatabricksClients();
    clearCredentialsCache();
    setSnapshotS3Client(undefined);
    setDatabricksFetch(undefined);
    await emulator.close();
    await lockTable.close();
  }
}

const LOCAL_SNAPSHOT_BUCKET = 'cmk-rotator-local-snapshots';

/** The Step Functions integration that starts a child execution and waits for its JSON output. */
const START_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';

/** The state machines the product deploys: the rotation, and the one-workspace child it starts per workspace. */
const MACHINES = [
  { name: 'rotate-workspace-key', path: ASL_PATH, required: true },
  { name: 'rotate-one-workspace', path: CHILD_ASL_PATH, required: false },
];

interface StartExecutionInput {
  StateMachineArn?: unknown;
  Name?: unknown;
  Input?: unknown;
}

/** The execution whose handlers are running (a child records its parent). */
const currentExecution = new AsyncLocalStorage<ExecutionRecord>();

/** One execution of the run, parent or child, with its own figures. */
interface ExecutionRecord {
  name: string;
  /** The execution that started this one (child executions). */
  parent: string | undefined;
  stateMachine: string;
  status: 'SUCCEEDED' | 'FAILED';
  output: unknown;
  error: { name: string; cause: string } | null;
  historyEvents: number;
  maxStatePayloadBytes: number;
}

/** The deployment settings of the product, pointed at the emulators. */
function productEnv(
  scenario: Scenario,
  emulator: { url: string; workspaceUrlTemplate: string },
): Record<string, string> {
  const settings = scenario.settings ?? {};
  const secretName = Object.keys(scenario.aws.secrets)[0] ?? 'databricks/cmk-rotator';
  const env: Record<string, string> = {
    DATABRICKS_ACCOUNT_ID: scenario.databricks.accountId,
    DATABRICKS_ACCOUNTS_HOST: emulator.url,
    DATABRICKS_WORKSPACE_URL_TEMPLATE: emulator.workspaceUrlTemplate,
    DATABRICKS_CREDENTIALS_SECRET_ARN: secretArn(secretName, scenario.aws.accountId, scenario.aws.region),
    // The deployed store (S3, conditional writes) against the local S3 stand-in.
    SNAPSHOT_BUCKET: LOCAL_SNAPSHOT_BUCKET,
    AWS_REGION: scenario.aws.region,
    DEPLOYMENT_ACCOUNT_ID: scenario.aws.accountId,
  };
  const map = SCENARIO_SETTINGS;

  for (const [field, name] of Object.entries(map)) {
    const value = (settings as Record<string, unknown>)[field];
    if (value === undefined || value === null) continue;
    env[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return env;
}

/** The handler of every function the state machines name (a Task without one fails the run at start). */
async function loadHandlers(machines: readonly AslMachine[]): Promise<Record<string, LambdaHandler>> {
  const named = new Set(
    machines
      .flatMap((m) => allStates(m).map(([, state]) => functionOf(state)))
      .filter((f) => f !== undefined),
  );
  const entries = await Promise.all(
    Object.entries(FUNCTION_MODULES)
      .filter(([fn]) => named.has(fn))
      .map(async ([fn, file]) => {
        const module = (await import(`../../functions/${file}.ts`)) as { handler: LambdaHandler };
        return [fn, module.handler] as const;
      }),
  );
  return Object.fromEntries(entries);
}

/**
 * A Task without `TimeoutSeconds` times out after 99,999,999 s in AWS (the Lambda's own timeout ends it
 * first); aws-local-stepfunctions follows the older ASL specification's 60 s. Give such Tasks AWS' default.
 * (Step Functions developer guide, Task state: "If not provided, the default value is 99999999.")
 */
function withAwsTaskTimeouts(machine: AslMachine): AslMachine {
  for (const [, state] of allStates(machine)) {
    if (state.Type === 'Task' && state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined)
      state.TimeoutSeconds = 99_999_999;
  }
  return machine;
}

/**
 * aws-local-stepfunctions wraps the final error; unwrap it to the state machine's Error/Cause, and give the
 * Cause's `errorMessage` (README § Scenarios and reports).
 */
function executionError(e: unknown): { name: string; cause: string } {
  let error = e as { name?: string; message?: string; cause?: unknown };
  while (
    error?.cause &&
    typeof error.cause === 'object' &&
    (error.name === 'ExecutionError' || !error.name)
  ) {
    error = error.cause as typeof error;
  }
  const cause = typeof error?.cause === 'string' ? error.cause : (error?.message ?? String(e));
  // The execution's Cause is the Lambda runtime's JSON error object; the report gives its message.
  return { name: error?.name ?? 'Error', cause: causeMessage(cause) };
}
