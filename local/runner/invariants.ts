import { isDeepStrictEqual } from 'node:util';
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

const CLUSTER_RUNNING = new Set(['PENDING', 'RUNNING', 'RESTARTING', 'RESIZING']);
const START_CALL =
  /^POST (\/api\/2\.[01]\/clusters\/start|\/api\/2\.0\/sql\/warehouses\/[^/]+\/start|\/api\/2\.0\/pipelines\/[^/]+\/updates)$/;

/** Checks DESIGN §6 on what the emulators recorded. */
export function checkInvariants(scenario: Scenario, report: Report, trace: RunTrace): Invariant[] {
  return [
    storageKeyNeverReplaced(scenario, report),
    policyStatementsPreserved(scenario, report),
    noPatchWithoutUsableKey(report),
    nothingStartedDuringWindow(scenario, report, trace),
    everythingRestored(scenario, report),
    rejectedPlanTouchedNothing(scenario, report, trace),
    secretsNeverExposed(scenario, report),
  ];
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
      const kept = afterStatements.some(
        (f) =>
          isDeepStrictEqual(f, s) ||
          (s.Sid !== undefined &&
            f.Sid === s.Sid &&
            isDeepStrictEqual(f.Principal, s.Principal) &&
            f.Effect === s.Effect),
      );
      if (!kept) bad.push(`${String(key.keyId)}: statement ${s.Sid ?? JSON.stringify(s).slice(0, 80)} lost`);
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
    'every existing statement kept, no "*" principal added',
  );
}

function noPatchWithoutUsableKey(report: Report): Invariant {
  const bad: string[] = [];
  const configs = report.final.databricks.keyConfigs as Json[];
  const keys = report.final.aws.keys as Json[];
  for (const entry of report.callLog) {
    if (entry.method !== 'PATCH' || entry.status >= 400) continue;
    const body = (entry.body ?? {}) as Json;
    for (const field of ['managed_services_customer_managed_key_id', 'storage_customer_managed_key_id']) {
      const id = body[field];
      if (typeof id !== 'string') continue;
      const config = configs.find((c) => c.customer_managed_key_id === id);
      const arn = (config?.aws_key_info as Json | undefined)?.key_arn as string | undefined;
      const key = keys.find((k) => typeof arn === 'string' && arn.endsWith(`/${String(k.keyId)}`));
      const grants = statements(key?.policy).some(
        (s) => JSON.stringify(s.Principal ?? '').includes('414351767826') || /Databricks/i.test(s.Sid ?? ''),
      );
      if (key?.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT' || !grants) {
        bad.push(
          `PATCH at ${entry.t}s set ${field}=${id} to a key that is missing, not symmetric or not granted`,
        );
      }
    }
  }
  return result(
    'no-patch-without-usable-key',
    bad,
    'every PATCH pointed at a usable key whose policy grants Databricks',
  );
}

function nothingStartedDuringWindow(scenario: Scenario, report: Report, trace: RunTrace): Invariant {
  const bad: string[] = [];
  for (const w of scenario.databricks.workspaces as Json[]) {
    const deployment = w.deployment_name as string;
    const calls = report.callLog.filter((e) => splitPath(e).deployment === deployment && e.status < 400);
    const firstStop = calls.find((e) => STOP_CALL.test(`${e.method} ${splitPath(e).path}`));
    if (!firstStop) continue;
    const restore = trace.taskCalls.find(
      (c) =>
        c.fn === 'RestoreCompute' &&
        (c.input as { workspace?: { workspaceId?: number } }).workspace?.workspaceId === w.workspace_id,
    );
    const windowEnd = restore?.enteredAt ?? Number.POSITIVE_INFINITY;
    for (const e of calls) {
      if (e.t < firstStop.t || e.t >= windowEnd) continue;
      const endpoint = `${e.method} ${splitPath(e).path}`;
      const body = (e.body ?? {}) as Json;
      const unpauses = /jobs\/update$/.test(endpoint) && JSON.stringify(body).includes('"UNPAUSED"');
      const warmsPool = /instance-pools\/edit$/.test(endpoint) && Number(body.min_idle_instances ?? 0) > 0;
      if (START_CALL.test(endpoint) || unpauses || warmsPool)
        bad.push(`${deployment}: ${endpoint} at ${e.t}s`);
    }
  }
  return result(
    'nothing-started-during-window',
    bad,
    'no start, unpause or pool warm-up between the first stop and the restore step',
  );
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
  const planFailed = trace.taskCalls.some((c) => c.fn === 'Plan' && c.error);
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

function result(name: string, bad: string[], ok: string): Invariant {
  return { name, holds: bad.length === 0, detail: bad.length === 0 ? ok : bad.slice(0, 20).join('; ') };
}
