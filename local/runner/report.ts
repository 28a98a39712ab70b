import type { KmsCall, LocalKms } from '../aws/kms.ts';
import type { CallLogEntry, StartedEmulator } from '../emulator/index.ts';
import type { Scenario } from '../scenario.ts';
import { checkInvariants, type Invariant } from './invariants.ts';

export interface StateRecord {
  name: string;
  type: string;
  index?: number;
  enteredAt: number;
  exitedAt: number;
}

export interface TaskCall {
  state: string;
  fn: string;
  input: unknown;
  output?: unknown;
  /** `message` is the error message; `causeChars` the length of the Cause Step Functions received. */
  error?: { name: string; message: string; causeChars?: number };
  enteredAt: number;
  exitedAt: number;
}

/** What the runner saw while the execution ran. */
export interface RunTrace {
  startedAtSim: number;
  states: StateRecord[];
  taskCalls: TaskCall[];
  maxPayloadBytes: number;
  retainUntil: string | undefined;
  /** Execution history events, counted as Step Functions writes them (local/runner/history.ts). */
  historyEvents: number;
  /** The scenario's executions, in the order given, each with the largest figures of it and its children. */
  executions?: ExecutionSummary[];
}

export interface ExecutionSummary {
  name: string;
  status: 'SUCCEEDED' | 'FAILED';
  error: { name: string; cause: string } | null;
  historyEvents: number;
  maxStatePayloadBytes: number;
}

export interface DowntimeWindow {
  workspace_id: number;
  firstStopAt: number | null;
  allRestoredAt: number | null;
  windowSeconds: number | null;
  platformMinimumSeconds: number;
}

/** The run report (README § Scenarios and reports, a public contract: extend only with optional fields). */
export interface Report {
  scenario: string;
  status: 'SUCCEEDED' | 'FAILED';
  error: { name: string; cause: string } | null;
  output: unknown;
  states: Array<{ name: string; enteredAt: number; exitedAt: number; iteration?: number }>;
  downtime: DowntimeWindow[];
  apiCalls: { total: number; byEndpoint: Record<string, number> };
  stateTransitions: number;
  maxStatePayloadBytes: number;
  final: { aws: { keys: unknown[] }; databricks: { keyConfigs: unknown[]; workspaces: unknown[] } };
  callLog: CallLogEntry[];
  /** Every KMS call the product made, in order (`t` in simulated seconds): which were reads, which wrote. */
  kmsCalls?: KmsCall[];
  invariants: Invariant[];
  simulatedSeconds: number;
  /** Execution history events, counted as Step Functions counts them (quota: 25,000): the largest execution. */
  historyEvents: number;
  /** One entry per execution of the scenario (`executions`, or the single `input`), in the order given. */
  executions: ExecutionSummary[];
}

/** Calls that stop or pause something (the start of the downtime window). */
export const STOP_CALL =
  /^POST (\/api\/2\.[01]\/clusters\/delete|\/api\/2\.0\/sql\/warehouses\/[^/]+\/stop|\/api\/2\.0\/pipelines\/[^/]+\/stop|\/api\/2\.[012]\/jobs\/runs\/cancel|\/api\/2\.0\/instance-pools\/edit)$/;

/** `/ws/acme-prod/api/2.1/clusters/list?page_size=100` → `{ deployment: 'acme-prod', path: '/api/2.1/clusters/list' }`. */
export function splitPath(entry: CallLogEntry): { deployment: string | undefined; path: string } {
  const bare = entry.path.split('?')[0] ?? entry.path;
  const m = /^\/ws\/([^/]+)(\/.*)$/.exec(bare);
  if (m) return { deployment: m[1], path: m[2] ?? '/' };
  const host = entry.host && entry.host !== 'account' ? entry.host : undefined;
  return { deployment: host, path: bare };
}

/** Endpoint key with ids replaced: `POST /api/2.0/sql/warehouses/{id}/stop`. */
export function endpointOf(entry: CallLogEntry): string {
  const { path } = splitPath(entry);
  const normalised = path
    .split('/')
    .map((seg, i, all) => {
      if (seg === '' || /^(v\d+|\d+\.\d+)$/.test(seg)) return seg;
      const prev = all[i - 1] ?? '';
      if (
        [
          'accounts',
          'workspaces',
          'customer-managed-keys',
          'credentials',
          'warehouses',
          'pipelines',
          'updates',
        ].includes(prev) &&
        /\d/.test(seg)
      ) {
        return '{id}';
      }
      return seg;
    })
    .join('/');
  return `${entry.method} ${normalised}`;
}

export function buildReport(args: {
  scenario: Scenario;
  emulator: StartedEmulator;
  kms: LocalKms;
  trace: RunTrace;
  status: 'SUCCEEDED' | 'FAILED';
  output: unknown;
  error: { name: string; cause: string } | null;
  endedAtSim: number;
}): Report {
  const { scenario, emulator, kms, trace } = args;
  const callLog = emulator.callLog();
  const byEndpoint: Record<string, number> = {};
  for (const entry of callLog) {
    const key = endpointOf(entry);
    byEndpoint[key] = (byEndpoint[key] ?? 0) + 1;
  }
  const final = { aws: { keys: kms.keys() as unknown[] }, databricks: emulator.state() };
  const report: Report = {
    scenario: scenario.name,
    status: args.status,
    error: args.error,
    output: args.output,
    states: trace.states
      .slice()
      .sort((a, b) => a.enteredAt - b.enteredAt)
      .map((s) => ({
        name: s.name,
        enteredAt: round(s.enteredAt),
        exitedAt: round(s.exitedAt),
        ...(s.index === undefined ? {} : { iteration: s.index }),
      })),
    downtime: downtime(scenario, emulator, trace, callLog),
    apiCalls: { total: callLog.length, byEndpoint },
    stateTransitions: trace.states.length,
    maxStatePayloadBytes: trace.maxPayloadBytes,
    historyEvents: trace.historyEvents,
    executions: trace.executions ?? [],
    final,
    callLog,
    kmsCalls: kms.calls(),
    invariants: [],
    simulatedSeconds: round(args.endedAtSim - trace.startedAtSim),
  };
  report.invariants = checkInvariants(
    scenario,
    report,
    trace,
    emulator.computeStarts(),
    emulator.workspaceUpdates(),
  );
  return report;
}

function downtime(
  scenario: Scenario,
  emulator: StartedEmulator,
  trace: RunTrace,
  callLog: CallLogEntry[],
): DowntimeWindow[] {
  const plan = trace.taskCalls.find((c) => c.fn === 'Plan')?.output as
    | {
        mode?: string;
        storageWaitSeconds?: number;
        workspaces?: Array<{ workspaceId: number; storageAdded?: boolean }>;
      }
    | undefined;
  if (plan?.mode !== 'rotate' || !plan.workspaces) return [];
  const deployments = new Map<number, string | undefined>(
    scenario.databricks.workspaces.map((w) => [w.workspace_id, w.deployment_name]),
  );
  return plan.workspaces.map((w) => {
    const deployment = deployments.get(w.workspaceId);
    const firstStop = callLog.find((e) => {
      const { deployment: d } = splitPath(e);
      return d === deployment && e.status < 400 && STOP_CALL.test(`${e.method} ${splitPath(e).path}`);
    });
    const restored = trace.taskCalls
      .filter(
        (c) =>
          c.fn === 'CheckComputeRestored' &&
          (c.output as { status?: string } | undefined)?.status === 'RESTORED' &&
          (c.input as { workspace?: { workspaceId?: number } }).workspace?.workspaceId === w.workspaceId,
      )
      .at(-1);
    const timings = emulator.platformTimings(w.workspaceId);
    const storageWait = w.storageAdded ? (plan.storageWaitSeconds ?? 0) : 0;
    const firstStopAt = firstStop ? round(firstStop.t) : null;
    const allRestoredAt = restored ? round(restored.exitedAt) : null;
    return {
      workspace_id: w.workspaceId,
      firstStopAt,
      allRestoredAt,
      windowSeconds:
        firstStopAt !== null && allRestoredAt !== null ? round(allRestoredAt - firstStopAt) : null,
      platformMinimumSeconds: round(
        timings.slowestStopSeconds +
          timings.workspaceUpdateSeconds +
          storageWait +
          timings.slowestStartSeconds,
      ),
    };
  });
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
