import { isDeepStrictEqual } from 'node:util';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import { type KeyPolicy, ownsStatement } from '../../lib/kms/policy.ts';
import { describeDenials, evaluateKeyPolicyForDatabricks } from '../../lib/kms/policy-eval.ts';
import type { CallLogEntry, ComputeStart, WorkspaceUpdate } from '../emulator/index.ts';
import type { Scenario } from '../scenario.ts';
import { type Report, type RunTrace, STOP_CALL, splitPath } from './report.ts';

/** One safety invariant (DESIGN §6) checked by the runner from the emulators' record, not the product's word. */
export interface Invariant {
  name: string;
  holds: boolean;
  detail: string;
}

type Json = Record<string, unknown>;
type Statement = Json & { Sid?: string; Principal?: unknown };

/**
 * The product's default STORAGE_WAIT_MINUTES: Databricks asks that no cluster start for 20 minutes after a
 * storage key is added.
 */
const STORAGE_WAIT_MINUTES = 20;
const CLUSTER_RUNNING = new Set(['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING']);
const START_CALL =
  /^POST (\/api\/2\.[01]\/clusters\/start|\/api\/2\.0\/sql\/warehouses\/[^/]+\/start|\/api\/2\.0\/pipelines\/[^/]+\/updates)$/;

/**
 * Checks DESIGN §6 on what the emulators recorded: `starts` and `updates` are the Databricks emulator's
 * `computeStarts()` and `workspaceUpdates()` (without them, the window of §6.5 ends where the product said).
 */
export function checkInvariants(
  scenario: Scenario,
  report: Report,
  trace: RunTrace,
  starts: readonly ComputeStart[] = [],
  updates: readonly WorkspaceUpdate[] = [],
): Invariant[] {
  return [
    storageKeyNeverReplaced(scenario, report),
    policyStatementsPreserved(scenario, report),
    noPatchWithoutUsableKey(report),
    nothingStartedDuringWindow(scenario, report, trace, starts, updates),
    everythingRestored(scenario, report),
    rejectedPlanTouchedNothing(scenario, report, trace),
    secretsNeverExposed(scenario, report),
    errorsFitStepFunctions(report, trace),
  ];
}

/**
 * Step Functions keeps an error's name to 256 characters and its cause to 32,768: longer ones are cut, and a
 * cut name no longer matches the ASL's Retry/Catch. Checked on every Task error as Lambda delivers it (the
 * runtime's JSON cause) and on the execution's own error.
 */
function errorsFitStepFunctions(report: Report, trace: RunTrace): Invariant {
  const bad: string[] = [];
  for (const call of trace.taskCalls) {
    if (!call.error) continue;
    if (call.error.name.length > 256)
      bad.push(`${call.state}: error name of ${call.error.name.length} characters`);
    if ((call.error.causeChars ?? 0) > 32_768)
      bad.push(`${call.state}: ${call.error.name} cause of ${call.error.causeChars} characters`);
  }
  if (report.error && report.error.name.length > 256)
    bad.push(`execution error name of ${report.error.name.length} characters`);
  return result(
    'errors-fit-step-functions',
    bad,
    'every error name fits 256 characters and every cause 32,768, as Lambda delivers them',
  );
}

function storageKeyNeverReplaced(scenario: Scenario, report: Report): Invariant {
  const bad: string[] = [];
  for (const before of scenario.databricks.workspaces as Json[]) {
    const after = finalWorkspace(report, before.workspace_id as number);
    const was = before.storage_customer_managed_key_id;
    if (was && after && after.storage_customer_managed_key_id !== was) {
      bad.push(`${before.workspace_id}: ${String(was)} → ${String(after.storage_customer_managed_key_id)}`);
    }
  }
  return result('storage-key-never-replaced', bad, 'a workspace with a storage key kept it');
}

function policyStatementsPreserved(scenario: Scenario, report: Report): Invariant {
  const bad: string[] = [];
  for (const key of scenario.aws.keys as Json[]) {
    const after = (report.final.aws.keys as Json[]).find((k) => k.keyId === key.keyId);
    const beforeStatements = statements(key.policy);
    const afterStatements = statements(after?.policy);
    for (const s of beforeStatements) {
      // A statement the product does not own (by Sid) must come back exactly as it was: the merge never
      // widens, narrows or rewrites it (DESIGN §6.3). Its own statements may only have gained account ids.
      const own = ownsStatement(s as { Sid?: string });
      const kept = afterStatements.some(
        (f) =>
          isDeepStrictEqual(f, s) ||
          (own &&
            s.Sid !== undefined &&
            f.Sid === s.Sid &&
            isDeepStrictEqual(f.Principal, s.Principal) &&
            f.Effect === s.Effect),
      );
      if (!kept)
        bad.push(
          `${String(key.keyId)}: statement ${s.Sid ?? JSON.stringify(s).slice(0, 80)} ${own ? 'lost' : "lost or changed (not the product's to change)"}`,
        );
    }
    const wildBefore = beforeStatements.filter(isWildcard).length;
    const wildAfter = afterStatements.filter(isWildcard).length;
    if (wildAfter > wildBefore) bad.push(`${String(key.keyId)}: a "*" principal was added`);
    if (after?.policy && Buffer.byteLength(JSON.stringify(after.policy)) > 32_768) {
      bad.push(`${String(key.keyId)}: policy over 32 KB`);
    }
  }
  return result(
    'key-policy-statements-preserved',
    bad,
    'every existing statement kept (those the product does not own unchanged), no "*" principal added',
  );
}

function noPatchWithoutUsableKey(report: Report): Invariant {
  // The product's default principal: the report does not carry the scenario's settings.
  const principal = 'arn:aws:iam::414351767826:root';
  const fields = [
    ['managed_services_customer_managed_key_id', 'MANAGED_SERVICES'],
    ['storage_customer_managed_key_id', 'STORAGE'],
  ] as const;
  const bad: string[] = [];
  const configs = report.final.databricks.keyConfigs as Json[];
  const keys = report.final.aws.keys as Json[];
  /** Why Databricks could not use the key for `useCase`, judged as KMS would (DESIGN §6.2, §6.9); '' if it can. */
  const refusal = (policy: unknown, keyArn: string, accountId: string | undefined, useCase: KeyUseCase) => {
    let verdict: ReturnType<typeof evaluateKeyPolicyForDatabricks>;
    try {
      verdict = evaluateKeyPolicyForDatabricks(policy as string | KeyPolicy, {
        databricksPrincipalArn: principal,
        // Databricks tags its requests with the id of the account whose workspace uses the key.
        accountIds: accountId ? [accountId] : [],
        keyArn,
        useCases: [useCase],
      });
    } catch {
      return 'has no readable policy';
    }
    if (verdict.denials.length > 0) return `denies Databricks: ${describeDenials(verdict.denials)}`;
    if (verdict.ungranted.length > 0) return `does not grant Databricks ${verdict.ungranted.join(', ')}`;
    return '';
  };
  for (const entry of report.callLog) {
    if (entry.method !== 'PATCH' || entry.status >= 400) continue;
    const body = (entry.body ?? {}) as Json;
    const accountId = /\/accounts\/([^/?]+)\/workspaces\//.exec(entry.path)?.[1];
    for (const [field, useCase] of fields) {
      const id = body[field];
      if (typeof id !== 'string') continue;
      const config = configs.find((c) => c.customer_managed_key_id === id);
      const arn = (config?.aws_key_info as Json | undefined)?.key_arn as string | undefined;
      const key = keys.find((k) => typeof arn === 'string' && arn.endsWith(`/${String(k.keyId)}`));
      const why =
        !key || !arn
          ? 'is missing'
          : key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT'
            ? 'is not symmetric ENCRYPT_DECRYPT'
            : refusal(key.policy, arn, accountId, useCase);
      if (why) bad.push(`PATCH at ${entry.t}s set ${field}=${id} to a key that ${why}`);
    }
  }
  return result(
    'no-patch-without-usable-key',
    bad,
    'every PATCH pointed at a usable key whose policy grants Databricks and denies it nothing',
  );
}

/**
 * DESIGN §6.5: no classic compute runs between the first stop and the end of the storage wait, whoever
 * starts it. The window opens at the product's first stop in the workspace. It closes at the later of two
 * ends:
 * - the product's own: when it saw the workspace RUNNING on the new key (plus the storage wait when its plan
 *   added a storage key), or, when it never did, when restoring began (without a restore, the end of the run);
 * - the platform's, from the emulator's record of the updates accepted in the product's window: when the last
 *   one ended (applied, reverted or failed), plus the storage wait when it applied a storage key; an update
 *   still running at the end of the run keeps the window open to the end of the run. So a product that
 *   misjudges the end (a customer-managed network stays RUNNING while it updates) cannot shorten the window.
 *
 * Flagged: any start, unpause or pool warm-up the product sent in the window; any compute the emulator saw
 * start in it (by the product or anyone else) that the product did not stop again; and, on success, any such
 * start the execution's output does not report.
 */
function nothingStartedDuringWindow(
  scenario: Scenario,
  report: Report,
  trace: RunTrace,
  starts: readonly ComputeStart[],
  updates: readonly WorkspaceUpdate[],
): Invariant {
  const bad: string[] = [];
  const plan = trace.taskCalls.find((c) => c.fn === 'Plan')?.output as
    | { storageWaitSeconds?: number; workspaces?: Array<{ workspaceId: number; storageAdded?: boolean }> }
    | undefined;
  const output = JSON.stringify(report.output ?? '');
  // The storage wait the deployment was set to (the product's STORAGE_WAIT_MINUTES), whatever the plan said.
  const storageWaitSeconds = (scenario.settings?.storageWaitMinutes ?? STORAGE_WAIT_MINUTES) * 60;
  for (const w of scenario.databricks.workspaces as Json[]) {
    const deployment = w.deployment_name as string;
    const id = w.workspace_id as number;
    const calls = report.callLog.filter((e) => splitPath(e).deployment === deployment && e.status < 400);
    const windows = windowsOf(id, calls, trace, plan, updates, storageWaitSeconds);
    if (windows.length === 0) continue;
    const inWindow = (t: number) => windows.some((w) => t >= w.from && t < w.to);
    const window = windows
      .map((w) => `window ${seconds(w.from)}–${Number.isFinite(w.to) ? seconds(w.to) : 'end of run'}`)
      .join(', ');
    for (const e of calls) {
      if (!inWindow(e.t)) continue;
      const endpoint = `${e.method} ${splitPath(e).path}`;
      const body = (e.body ?? {}) as Json;
      const unpauses = /jobs\/update$/.test(endpoint) && JSON.stringify(body).includes('"UNPAUSED"');
      const warmsPool = /instance-pools\/edit$/.test(endpoint) && Number(body.min_idle_instances ?? 0) > 0;
      if (START_CALL.test(endpoint) || unpauses || warmsPool)
        bad.push(`${deployment}: ${endpoint} at ${e.t}s (${window})`);
    }
    const serverless = new Set(
      ((w.warehouses as Json[] | undefined) ?? [])
        .filter((x) => x.enable_serverless_compute === true)
        .map((x) => String(x.id)),
    );
    // Compute someone else starts matters once a key change was sent: before any PATCH was accepted (the
    // rotation failed earlier) nothing is updating, and what a user runs then harms nothing.
    const patched = report.callLog.some(
      (e) => e.method === 'PATCH' && e.status < 400 && e.path.includes(`/workspaces/${id}`),
    );
    for (const s of starts) {
      if (!patched) break;
      if (s.workspaceId !== id || !inWindow(s.t) || s.by === 'api') continue;
      if (s.kind === 'warehouse' && serverless.has(s.id)) continue;
      const stoppedAgain = calls.some(
        (e) =>
          e.t >= s.t &&
          STOP_CALL.test(`${e.method} ${splitPath(e).path}`) &&
          JSON.stringify(e).includes(s.id),
      );
      // Stop calls can fail for good: then the execution must fail naming it (ComputeNotKeptStopped).
      const namedInFailure = report.status === 'FAILED' && (report.error?.cause ?? '').includes(s.id);
      if (!stoppedAgain && !namedInFailure)
        bad.push(`${deployment}: ${s.kind} ${s.id} started at ${s.t}s and left running (${window})`);
      else if (report.status === 'SUCCEEDED' && !output.includes(s.id))
        bad.push(
          `${deployment}: ${s.kind} ${s.id} started at ${s.t}s, stopped again but not reported (${window})`,
        );
    }
  }
  return result(
    'nothing-started-during-window',
    bad,
    'no compute ran between the first stop and the end of the storage wait: nothing started by the product, and whatever someone else started was stopped again and reported (or, when it could not be stopped, named in the error of the failed execution)',
  );
}

/**
 * The windows of workspace `id`, one per execution that stopped its compute (several executions may rotate
 * one workspace in turn: each one's own restarts after its failure are not in the next one's window). Each
 * opens at that execution's first stop call and closes as the function above says.
 */
function windowsOf(
  id: number,
  calls: readonly CallLogEntry[],
  trace: RunTrace,
  plan:
    | { storageWaitSeconds?: number; workspaces?: Array<{ workspaceId: number; storageAdded?: boolean }> }
    | undefined,
  updates: readonly WorkspaceUpdate[],
  storageWaitSeconds: number,
): Array<{ from: number; to: number }> {
  type Item = { executionId?: string; workspace?: { workspaceId?: number; storageAdded?: boolean } };
  const itemOf = (c: { input: unknown }) => c.input as Item;
  const ofWorkspace = (c: { input: unknown }) => itemOf(c).workspace?.workspaceId === id;
  const stops = trace.taskCalls.filter((c) => c.fn === 'StopCompute' && ofWorkspace(c));
  // A trace without the stop step's calls (a hand-made one) is one window over every call.
  const executions = stops.length > 0 ? [...new Set(stops.map((c) => itemOf(c).executionId))] : [undefined];
  const windows: Array<{ from: number; to: number }> = [];
  for (const execution of executions) {
    const mine = (c: { input: unknown }) =>
      ofWorkspace(c) && (stops.length === 0 || itemOf(c).executionId === execution);
    const stop = stops.find(mine);
    const firstStop = calls.find(
      (e) => e.t >= (stop?.enteredAt ?? 0) && STOP_CALL.test(`${e.method} ${splitPath(e).path}`),
    );
    if (!firstStop) continue;
    // Its own restore; for an execution that ended without one (its workspace execution timed out), the
    // next restore of the workspace, by the execution that took over.
    const restore =
      trace.taskCalls.find((c) => c.fn === 'RestoreCompute' && mine(c)) ??
      trace.taskCalls.find(
        (c) => c.fn === 'RestoreCompute' && ofWorkspace(c) && c.enteredAt >= (stop?.enteredAt ?? 0),
      );
    const runningOnNewKey = trace.taskCalls.find(
      (c) => c.fn === 'CheckWorkspace' && mine(c) && (c.output as { status?: string })?.status === 'RUNNING',
    );
    const storageAdded =
      (stop ? itemOf(stop).workspace?.storageAdded : undefined) ??
      plan?.workspaces?.find((p) => p.workspaceId === id)?.storageAdded === true;
    // The product's word: the window closes once the workspace runs on the new key; with a storage key
    // added, the storage wait later; without a key change, when restoring begins.
    // (The check reads the workspace as it starts: that read is when it was seen RUNNING.)
    const productEnd = runningOnNewKey
      ? runningOnNewKey.enteredAt + (storageAdded ? (plan?.storageWaitSeconds ?? storageWaitSeconds) : 0)
      : (restore?.enteredAt ?? Number.POSITIVE_INFINITY);
    const to = Math.max(productEnd, updatesEnd(updates, id, firstStop.t, productEnd, storageWaitSeconds));
    windows.push({ from: firstStop.t, to });
  }
  return windows;
}

/**
 * When the platform was done with the updates of workspace `workspaceId` accepted from `from` to `until` (the
 * product's own window), by the emulator's record: the latest end, plus `storageWaitSeconds` after an update
 * that applied a storage key (Databricks: start no cluster for 20 minutes then); +∞ when one had not ended
 * by the end of the run; -∞ when there was none (nothing to add to the product's own end).
 */
export function updatesEnd(
  updates: readonly WorkspaceUpdate[],
  workspaceId: number,
  from: number,
  until: number,
  storageWaitSeconds: number,
): number {
  let end = Number.NEGATIVE_INFINITY;
  for (const u of updates) {
    if (u.workspaceId !== workspaceId || u.startedAt < from || u.startedAt > until) continue;
    if (u.endedAt === undefined) return Number.POSITIVE_INFINITY;
    const storageAdded =
      u.outcome === 'applied' && typeof u.changes.storage_customer_managed_key_id === 'string';
    end = Math.max(end, u.endedAt + (storageAdded ? storageWaitSeconds : 0));
  }
  return end;
}

function everythingRestored(scenario: Scenario, report: Report): Invariant {
  const missing: string[] = [];
  for (const before of scenario.databricks.workspaces as Json[]) {
    const after = finalWorkspace(report, before.workspace_id as number);
    if (!after) continue;
    const find = (list: string, idField: string, id: unknown) =>
      ((after[list] as Json[] | undefined) ?? []).find((x) => x[idField] === id);
    for (const c of (before.clusters as Json[] | undefined) ?? []) {
      if (
        !CLUSTER_RUNNING.has(String(c.state)) ||
        !['UI', 'API', undefined].includes(c.cluster_source as string)
      )
        continue;
      const now = find('clusters', 'cluster_id', c.cluster_id);
      if (!now || !CLUSTER_RUNNING.has(String(now.state))) missing.push(`cluster ${String(c.cluster_id)}`);
    }
    for (const wh of (before.warehouses as Json[] | undefined) ?? []) {
      if (!['RUNNING', 'STARTING'].includes(String(wh.state))) continue;
      const now = find('warehouses', 'id', wh.id);
      if (!now || !['RUNNING', 'STARTING'].includes(String(now.state)))
        missing.push(`warehouse ${String(wh.id)}`);
    }
    for (const p of (before.pipelines as Json[] | undefined) ?? []) {
      const continuous = (p.spec as Json | undefined)?.continuous === true;
      if (!continuous || ['IDLE', 'FAILED', 'DELETED', undefined].includes(p.state as string)) continue;
      const now = find('pipelines', 'pipeline_id', p.pipeline_id);
      if (!now || ['IDLE', 'FAILED', 'DELETED', 'STOPPING'].includes(String(now.state)))
        missing.push(`pipeline ${String(p.pipeline_id)}`);
    }
    for (const pool of (before.instancePools as Json[] | undefined) ?? []) {
      const now = find('instancePools', 'instance_pool_id', pool.instance_pool_id);
      for (const field of ['min_idle_instances', 'idle_instance_autotermination_minutes']) {
        if (now && now[field] !== pool[field]) missing.push(`pool ${String(pool.instance_pool_id)} ${field}`);
      }
    }
    for (const job of (before.jobs as Json[] | undefined) ?? []) {
      const now = find('jobs', 'job_id', job.job_id);
      for (const field of ['schedule', 'continuous', 'trigger']) {
        const was = ((job.settings as Json | undefined)?.[field] as Json | undefined)?.pause_status;
        const is = ((now?.settings as Json | undefined)?.[field] as Json | undefined)?.pause_status;
        if (was === 'UNPAUSED' && is !== 'UNPAUSED') missing.push(`job ${String(job.job_id)} ${field}`);
        if (was === 'PAUSED' && is === 'UNPAUSED')
          missing.push(`job ${String(job.job_id)} ${field} unpaused though it was paused`);
      }
    }
  }
  const cause = report.error?.cause ?? '';
  const unreported = missing.filter((m) => !cause.includes(m.split(' ')[1] ?? m));
  const holds = missing.length === 0 || (report.status === 'FAILED' && unreported.length === 0);
  return {
    name: 'everything-restored',
    holds,
    detail:
      missing.length === 0
        ? 'everything that ran before runs again; schedules and pools as before'
        : `not restored: ${missing.join(', ')}${holds ? ' (listed in the execution error)' : ''}`,
  };
}

function rejectedPlanTouchedNothing(scenario: Scenario, report: Report, trace: RunTrace): Invariant {
  // Rejected: the plan never succeeded (a Plan call that failed and was retried successfully is not a rejection).
  const planCalls = trace.taskCalls.filter((c) => c.fn === 'Plan');
  const planFailed = planCalls.length > 0 && planCalls.every((c) => c.error);
  if (!planFailed)
    return { name: 'rejected-plan-touched-nothing', holds: true, detail: 'the plan was not rejected' };
  const writes = report.callLog.filter(
    (e) => e.method !== 'GET' && !/\/oidc\//.test(e.path) && e.status < 400,
  );
  const policiesChanged = (scenario.aws.keys as Json[]).filter((k) => {
    const after = (report.final.aws.keys as Json[]).find((f) => f.keyId === k.keyId);
    return !isDeepStrictEqual(JSON.parse(JSON.stringify(k.policy ?? null)), after?.policy ?? null);
  });
  const bad = [
    ...writes.map((e) => `${e.method} ${e.path}`),
    ...policiesChanged.map((k) => `policy of ${String(k.keyId)} changed`),
  ];
  return result('rejected-plan-touched-nothing', bad, 'the plan refused before anything was touched');
}

function secretsNeverExposed(scenario: Scenario, report: Report): Invariant {
  const secrets = new Set<string>();
  const sp = scenario.databricks.servicePrincipal as Json | undefined;
  if (typeof sp?.clientSecret === 'string') secrets.add(sp.clientSecret);
  for (const value of Object.values(scenario.aws.secrets as Json)) {
    const s = (value as Json | undefined)?.client_secret;
    if (typeof s === 'string') secrets.add(s);
  }
  const text = JSON.stringify({ ...report, final: undefined, invariants: undefined });
  const leaked = [...secrets].filter((s) => s.length > 0 && text.includes(s));
  const bearer = /Bearer [A-Za-z0-9._-]{8,}|"access_token"/.test(text);
  const bad = [
    ...leaked.map(() => 'a client secret appears in the report'),
    ...(bearer ? ['a token appears in the report'] : []),
  ];
  return result(
    'secrets-never-exposed',
    bad,
    'no client secret or token in output, error, states or call log',
  );
}

function finalWorkspace(report: Report, id: number): Json | undefined {
  return (report.final.databricks.workspaces as Json[]).find((w) => w.workspace_id === id);
}

function statements(policy: unknown): Statement[] {
  const p = (typeof policy === 'string' ? safeParse(policy) : policy) as Json | undefined;
  const s = p?.Statement;
  if (Array.isArray(s)) return s as Statement[];
  return s && typeof s === 'object' ? [s as Statement] : [];
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isWildcard(s: Statement): boolean {
  const p = s.Principal;
  if (p === '*') return true;
  const aws = (p as Json | undefined)?.AWS;
  return aws === '*' || (Array.isArray(aws) && aws.includes('*'));
}

/** Simulated seconds as the report shows them (to a tenth). */
function seconds(t: number): string {
  return `${Math.round(t * 10) / 10}s`;
}

function result(name: string, bad: string[], ok: string): Invariant {
  return { name, holds: bad.length === 0, detail: bad.length === 0 ? ok : bad.slice(0, 20).join('; ') };
}
