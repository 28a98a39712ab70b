import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { StateMachine } from 'aws-local-stepfunctions';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { setClock } from '../../lib/clock.ts';
import { setSnapshotS3Client } from '../../lib/compute/snapshot-store.ts';
import { clearCredentialsCache } from '../../lib/databricks/credentials.ts';
import { clearDatabricksClients } from '../../lib/databricks/index.ts';
import { FaultPlan, faultError } from '../aws/faults.ts';
import { LocalKms } from '../aws/kms.ts';
import { LocalS3 } from '../aws/s3.ts';
import { LocalSecretsManager, secretArn } from '../aws/secrets-manager.ts';
import { SimClock } from '../clock.ts';
import { startEmulator } from '../emulator/index.ts';
import { InvalidScenario, type Scenario } from '../scenario.ts';
import { type AslMachine, allStates, functionOf, readAsl, substituteArns } from './asl.ts';
import type { EventLog } from './events.ts';
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
};

type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface RunOptions {
  timeScale?: number;
  /** Called for every execution event, with the simulated seconds at which it was seen. */
  onEvent?: (event: EventLog, simSeconds: number) => void;
  /** Execution name (`$$.Execution.Name`); snapshots are keyed by it. */
  executionName?: string;
}

/**
 * Runs one scenario end to end on this machine: the Databricks emulator over HTTP, the local KMS and
 * Secrets Manager stand-ins behind the AWS SDK client interface, and the real ASL executed by
 * aws-local-stepfunctions with each Task mapped to its real handler. Returns the report (README § Scenarios and reports).
 */
export async function runScenario(scenario: Scenario, options: RunOptions = {}): Promise<Report> {
  if (scenario.input === undefined) {
    throw new InvalidScenario(
      'scenario field input is required to run: the execution input or an EventBridge event',
      {
        details: { field: 'input' },
      },
    );
  }
  const timeScale = options.timeScale ?? scenario.timeScale ?? 600;
  // Load the handlers before the simulated clock starts, so module loading does not count as simulated time.
  const handlers = await loadHandlers();
  const definition = JSON.parse(substituteArns(readAsl())) as AslMachine;
  const deployed = JSON.parse(readAsl()) as AslMachine;
  // Validating the definition takes a few hundred real ms: do it before the simulated clock starts too.
  const machine = new StateMachine(definition as never, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const clock = new SimClock({ timeScale });
  const emulator = await startEmulator(scenario, { clock });
  const faults = new FaultPlan(scenario.aws.faults);
  const s3 = new LocalS3();
  const kms = new LocalKms(scenario.aws.keys, {
    accountId: scenario.aws.accountId,
    region: scenario.aws.region,
    clock,
  });
  const secrets = new LocalSecretsManager(scenario.aws.secrets, {
    accountId: scenario.aws.accountId,
    region: scenario.aws.region,
  });
  const previousClock = setClock(clock);
  const previousEnv = { ...process.env };
  try {
    Object.assign(process.env, productEnv(scenario, emulator));
    setAwsClients({ kms: faults.wrap('kms', kms), secretsManager: faults.wrap('secretsManager', secrets) });
    setSnapshotS3Client(faults.wrap('s3', s3));
    clearDatabricksClients();
    clearCredentialsCache();

    const trace: RunTrace = {
      startedAtSim: clock.seconds(),
      states: [],
      taskCalls: [],
      events: 0,
      maxPayloadBytes: 0,
      retainUntil: undefined,
      clockJumps: [],
    };
    const localHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
    for (const [name, state] of allStates(deployed)) {
      if (state.Type !== 'Task') continue;
      const fn = functionOf(state);
      const handler = fn ? handlers[fn] : undefined;
      if (!fn || !handler)
        throw new Error(`state "${name}" has no local handler (Resource ${state.Resource})`);
      localHandlers[name] = async (input) => {
        const enteredAt = clock.seconds();
        const event = JSON.parse(JSON.stringify(input));
        try {
          // A Lambda fault of the scenario: before the handler (it never ran) or after it (its answer is lost).
          const fault = faults.take('lambda', name);
          if (fault && !fault.after) throw faultError(fault, `Task "${name}"`);
          const answer = await handler(event, lambdaContext(fn));
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
            error: { name: e.name, message: e.message },
            enteredAt,
            exitedAt: clock.seconds(),
          });
          throw error;
        }
      };
    }

    const execution = machine.run(scenario.input as never, {
      overrides: {
        taskResourceLocalHandlers: localHandlers as never,
        waitTimeOverrides: waitOverrides(deployed, clock, scenario, trace),
        retryIntervalOverrides: retryOverrides(deployed, timeScale),
      },
      context: {
        Execution: {
          Id: `arn:aws:states:${scenario.aws.region}:${scenario.aws.accountId}:execution:rotate-workspace-key:${options.executionName ?? `local-${scenario.name}`}`,
          Name: options.executionName ?? `local-${scenario.name}-${randomUUID().slice(0, 8)}`,
        },
      } as never,
    });

    const open = new Map<string, { name: string; enteredAt: number; index?: number }>();
    const consume = (async () => {
      for await (const event of execution.eventLogs) {
        const now = simSecondsAt(event.timestamp, clock, trace);
        trace.events++;
        if (event.type === 'StateEntered' || event.type === 'StateExited') {
          const bytes = Buffer.byteLength(JSON.stringify(event.state.output ?? event.state.input ?? null));
          trace.maxPayloadBytes = Math.max(trace.maxPayloadBytes, bytes);
          const key = `${event.index ?? '-'}:${event.state.name}`;
          if (event.type === 'StateEntered')
            open.set(key, { name: event.state.name, enteredAt: now, index: event.index });
          else {
            const entered = open.get(key);
            open.delete(key);
            trace.states.push({
              name: event.state.name,
              type: event.state.type,
              index: event.index,
              enteredAt: entered?.enteredAt ?? now,
              exitedAt: now,
            });
          }
        }
        options.onEvent?.(event, now);
      }
    })();

    let status: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED';
    let output: unknown = null;
    let error: { name: string; cause: string } | null = null;
    try {
      output = await execution.result;
    } catch (e) {
      status = 'FAILED';
      error = executionError(e);
    }
    await consume;
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
    await emulator.close();
  }
}

const LOCAL_SNAPSHOT_BUCKET = 'cmk-rotator-local-snapshots';

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
  };
  const map: Record<string, string> = {
    watchedAlias: 'WATCHED_ALIAS',
    workspaceIds: 'WORKSPACE_IDS',
    storageWaitMinutes: 'STORAGE_WAIT_MINUTES',
    oldKeyRetentionHours: 'OLD_KEY_RETENTION_HOURS',
    maxConcurrentWorkspaces: 'MAX_CONCURRENT_WORKSPACES',
    databricksPrincipalArn: 'DATABRICKS_PRINCIPAL_ARN',
    policyAccountIds: 'DATABRICKS_POLICY_ACCOUNT_IDS',
    apiConcurrency: 'API_CONCURRENCY',
    computeStopTimeoutMinutes: 'COMPUTE_STOP_TIMEOUT_MINUTES',
    workspaceUpdateTimeoutMinutes: 'WORKSPACE_UPDATE_TIMEOUT_MINUTES',
    computeRestoreTimeoutMinutes: 'COMPUTE_RESTORE_TIMEOUT_MINUTES',
    recoveryWorkspaceWaitMinutes: 'RECOVERY_WORKSPACE_WAIT_MINUTES',
  };
  for (const [field, name] of Object.entries(map)) {
    const value = (settings as Record<string, unknown>)[field];
    if (value === undefined || value === null) continue;
    env[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  return env;
}

/** Poll waits sleep their (scaled) seconds; the storage wait is scaled; the retention wait jumps the clock. */
function waitOverrides(machine: AslMachine, clock: SimClock, scenario: Scenario, trace: RunTrace) {
  const fixed: Record<string, number> = {};
  const dynamic: Record<string, () => number> = {};
  const storageWaitMinutes = Number(
    (scenario.settings as Record<string, unknown> | undefined)?.storageWaitMinutes ?? 20,
  );
  for (const [name, state] of allStates(machine)) {
    if (state.Type !== 'Wait') continue;
    if (typeof state.Seconds === 'number') fixed[name] = (state.Seconds * 1000) / clock.timeScale;
    else if (state.SecondsPath === '$.storageWaitSeconds')
      fixed[name] = (storageWaitMinutes * 60_000) / clock.timeScale;
    else if (state.TimestampPath === '$.retention.retainUntil') {
      dynamic[name] = () => {
        const until = trace.retainUntil ? Date.parse(trace.retainUntil) : Number.NaN;
        if (Number.isFinite(until) && until > clock.now()) {
          const seconds = (until - clock.now()) / 1000;
          trace.clockJumps.push({ atRealMs: Date.now(), seconds });
          clock.advance(seconds);
        }
        return 0;
      };
    } else {
      throw new Error(`the local runner does not know how to scale Wait state "${name}"`);
    }
  }
  return new Proxy(fixed, {
    get: (target, name: string) => (dynamic[name] ? dynamic[name]() : target[name]),
    has: (target, name: string) => name in target || name in dynamic,
  });
}

/** Retry pauses scaled to the simulated clock. */
function retryOverrides(machine: AslMachine, timeScale: number): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [name, state] of allStates(machine)) {
    if (!state.Retry) continue;
    out[name] = state.Retry.map((r) => ((r.IntervalSeconds ?? 1) * 1000) / timeScale);
  }
  return out;
}

async function loadHandlers(): Promise<Record<string, LambdaHandler>> {
  const entries = await Promise.all(
    Object.entries(FUNCTION_MODULES).map(async ([fn, file]) => {
      const module = (await import(`../../functions/${file}.ts`)) as { handler: LambdaHandler };
      return [fn, module.handler] as const;
    }),
  );
  return Object.fromEntries(entries);
}

function lambdaContext(fn: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `cmk-rotator-local-${fn}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:cmk-rotator-local-${fn}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/cmk-rotator-local-${fn}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 300_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The simulated time at which an event happened (events are consumed asynchronously, possibly after the
 * clock jumped for the retention wait).
 */
function simSecondsAt(realMs: number, clock: SimClock, trace: RunTrace): number {
  const lag = Math.max(0, Date.now() - realMs);
  const jumpedSince = trace.clockJumps
    .filter((j) => j.atRealMs >= realMs)
    .reduce((sum, j) => sum + j.seconds, 0);
  return clock.seconds() - (lag * clock.timeScale) / 1000 - jumpedSince;
}

/** aws-local-stepfunctions wraps the final error; unwrap it to the state machine's Error/Cause. */
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
  return { name: error?.name ?? 'Error', cause };
}
