import { describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

type Json = Record<string, unknown>;
const WS = 1234567890123456;
const OLD_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NEW_KEY = 'arn:aws:kms:us-east-1:111122223333:key/5678abcd-56ef-78ab-90cd-567890abcdef';

async function run(name: string): Promise<Report> {
  const scenario = await loadScenario(
    new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname,
  );
  return runScenario(scenario);
}

const path = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const calls = (r: Report, method: string, re: RegExp) =>
  r.callLog.filter((e) => e.method === method && re.test(path(e)));
const writes = (r: Report) =>
  r.callLog.filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/') && e.status < 400);
const workspace = (r: Report) =>
  (r.final.databricks.workspaces as Json[]).find((w) => w.workspace_id === WS) as Json;
const keyArnOf = (r: Report, configId: unknown) =>
  (
    (r.final.databricks.keyConfigs as Json[]).find((c) => c.customer_managed_key_id === configId)
      ?.aws_key_info as Json
  )?.key_arn;
const running = (r: Report, list: string, idField: string, states: string[]) =>
  ((workspace(r)[list] as Json[]) ?? [])
    .filter((x) => states.includes(String(x.state)))
    .map((x) => x[idField])
    .sort();

/** Asserts from the emulators' record (not the product's own invariants) that everything that ran runs again. */
async function expectRestoredAsBefore(name: string, report: Report) {
  const before = (await loadScenario(new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname))
    .databricks.workspaces[0] as unknown as Json;
  const ran = ((before.clusters as Json[]) ?? [])
    .filter(
      (c) =>
        ['RUNNING', 'PENDING'].includes(String(c.state)) && ['UI', 'API'].includes(String(c.cluster_source)),
    )
    .map((c) => c.cluster_id)
    .sort();
  expect(running(report, 'clusters', 'cluster_id', ['RUNNING']).filter((id) => ran.includes(id))).toEqual(
    ran,
  );
  const jobs = (workspace(report).jobs as Json[]) ?? [];
  for (const job of (before.jobs as Json[]) ?? []) {
    for (const field of ['schedule', 'continuous', 'trigger']) {
      const was = ((job.settings as Json)?.[field] as Json | undefined)?.pause_status;
      const now = jobs.find((j) => j.job_id === job.job_id);
      if (was) expect((((now?.settings ?? {}) as Json)[field] as Json | undefined)?.pause_status).toBe(was);
    }
  }
}

/** Nothing starts compute between the first stop call and the restore step (DESIGN §6.5), read off the call log. */
function expectNothingStartedDuringWindow(report: Report) {
  const firstStop = report.callLog.find(
    (e) => e.method === 'POST' && /clusters\/delete|\/stop$/.test(path(e)),
  );
  const restoreEntered = report.states.find(
    (s) => s.name === 'Restore compute' || s.name === 'Restore compute after failure',
  );
  expect(firstStop).toBeDefined();
  expect(restoreEntered).toBeDefined();
  const starts = report.callLog.filter(
    (e) =>
      e.method === 'POST' &&
      /clusters\/start|warehouses\/[^/]+\/start|pipelines\/[^/]+\/updates/.test(path(e)) &&
      e.t >= (firstStop?.t ?? 0) &&
      e.t < (restoreEntered?.enteredAt ?? 0),
  );
  expect(starts).toEqual([]);
}

describe('Scenario: managed services rotation', () => {
  it('moves the workspace to the new key and brings back exactly what ran', async () => {
    const report = await run('rotate-managed-services');
    expect(report.status).toBe('SUCCEEDED');
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    expect(workspace(report).workspace_status).toBe('RUNNING');
    expect(calls(report, 'PATCH', /workspaces/).filter((e) => e.status < 400)).toHaveLength(1);
    await expectRestoredAsBefore('rotate-managed-services', report);
    expectNothingStartedDuringWindow(report);
    // job and pipeline clusters are never started directly
    const started = calls(report, 'POST', /clusters\/start/).map((e) => (e.body as Json).cluster_id);
    expect(started).not.toContain('1129-063007-demo07');
    expect(started).not.toContain('1129-063008-demo08');
    expect(report.invariants.every((i) => i.holds)).toBe(true);
  });
});

describe('Scenario: first storage key together with managed services', () => {
  it('waits the storage wait before anything starts again', async () => {
    const report = await run('storage-first-time');
    expect(report.status).toBe('SUCCEEDED');
    const ws = workspace(report);
    expect(keyArnOf(report, ws.storage_customer_managed_key_id)).toBe(NEW_KEY);
    expect(keyArnOf(report, ws.managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    // The storage wait is guarded: a check every minute keeps compute stopped until 20 minutes after the
    // workspace was seen RUNNING on the new key.
    const guards = report.states.filter((s) => s.name === 'Keep compute stopped during the storage wait');
    expect(guards.length).toBeGreaterThanOrEqual(5);
    const runningSeen = report.states.filter((s) => s.name === 'Check workspace').at(-1)?.enteredAt ?? 0;
    const firstStart = calls(report, 'POST', /clusters\/start|warehouses\/[^/]+\/start/)[0];
    expect(firstStart?.t ?? 0).toBeGreaterThanOrEqual(runningSeen + 20 * 60 - 1);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expectNothingStartedDuringWindow(report);
    // the key policy got the storage statements, every original statement is still there
    const key = (report.final.aws.keys as Json[]).find((k) => NEW_KEY.endsWith(String(k.keyId))) as Json;
    const sids = ((key.policy as Json).Statement as Json[]).map((s) => s.Sid);
    expect(sids).toEqual(expect.arrayContaining(['Enable IAM User Permissions', 'Allow key administrators']));
    expect(JSON.stringify(key.policy)).toContain('kms:GenerateDataKey*');
  });
});

describe('Scenario: storage key already set', () => {
  it('refuses in the plan and touches nothing', async () => {
    const report = await run('storage-already-set');
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('StorageKeyAlreadySet');
    expect(writes(report)).toEqual([]);
    expect(workspace(report).storage_customer_managed_key_id).toBe('22222222-bbbb-4ccc-8ddd-000000000002');
  });
});

describe('Scenario: KMS rotated the key material', () => {
  it('verifies without downtime and reports the drifted policy as KeyPolicyDrift, leaving it as it is', async () => {
    const report = await run('kms-rotation-event');
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyPolicyDrift');
    expect(calls(report, 'POST', /clusters\/delete|\/stop$|jobs\/update/)).toEqual([]);
    expect(calls(report, 'PATCH', /workspaces/)).toEqual([]);
    const key = (report.final.aws.keys as Json[]).find((k) => OLD_KEY.endsWith(String(k.keyId))) as Json;
    expect(JSON.stringify(key.policy)).not.toContain('414351767826');
  });
});

describe('Scenario: key disabled and still in use (the default: an alarm)', () => {
  it('fails with KeyInUseDisabled after the grace delay, touching no compute', async () => {
    const report = await run('key-disabled-alarm');
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyInUseDisabled');
    expect(writes(report)).toEqual([]);
  });
});

describe('Scenario: key disabled with a successor, emergencyRotation on', () => {
  it('rotates to the watched alias target as an emergency', async () => {
    const report = await run('key-disabled-emergency');
    expect(report.status).toBe('SUCCEEDED');
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    // emergency: active runs are cancelled, not drained
    expect(calls(report, 'POST', /runs\/cancel/).length).toBeGreaterThan(0);
    await expectRestoredAsBefore('key-disabled-emergency', report);
  });
});

describe('Scenario: the workspace PATCH fails', () => {
  it('restores compute and fails the execution naming the error', async () => {
    const report = await run('failing-patch');
    expect(report.status).toBe('FAILED');
    expect(report.error?.cause).toContain('restored');
    expect(calls(report, 'PATCH', /workspaces/).map((e) => e.status)).toEqual([500]);
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(OLD_KEY);
    await expectRestoredAsBefore('failing-patch', report);
  });
});

describe('Scenario: the update of a customer-managed VPC workspace silently reverts', () => {
  it('never restarts compute while it might still be updating, and fails naming what stays stopped', async () => {
    // A customer-managed VPC stays RUNNING while it updates: RUNNING on the old key is no proof that the
    // update is over, so nothing restarts before the recovery deadline, and nothing after it either.
    const report = await run('silent-revert');
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('WorkspaceUpdateTimedOut');
    expect(report.error?.cause).toContain('WorkspaceStillUpdating');
    expect(report.error?.cause).toContain('compute NOT fully restored');
    expect(report.error?.cause).toMatch(/still stopped: .*clusters: 1129-063001-demo01/);
    expect(report.error?.cause).toMatch(/schedules still paused: jobs: 11 /);
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(OLD_KEY);
    const starts = calls(report, 'POST', /clusters\/start|warehouses\/[^/]+\/start/);
    expect(starts).toEqual([]);
    expect(report.invariants.filter((i) => !i.holds && i.name !== 'everything-restored')).toEqual([]);
  });
});

describe('Scenario: a 429 storm', () => {
  it('rides out throttling and still rotates', async () => {
    const report = await run('throttling-storm');
    expect(report.status).toBe('SUCCEEDED');
    expect(report.callLog.filter((e) => e.status === 429).length).toBeGreaterThanOrEqual(12);
    expect(keyArnOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    await expectRestoredAsBefore('throttling-storm', report);
  });
});

describe('Scenario: compute comes back during the window', () => {
  it('stops again what restarted before the PATCH and the PATCH is accepted', async () => {
    const report = await run('compute-comes-back');
    expect(report.status).toBe('SUCCEEDED');
    expect(calls(report, 'PATCH', /workspaces/).map((e) => e.status)).toEqual([200]);
    // the warehouse that auto-started and the cluster a user started were each stopped a second time before the PATCH
    const patchAt = calls(report, 'PATCH', /workspaces/)[0]?.t ?? 0;
    const beforePatch = (e: CallLogEntry) => e.t < patchAt && e.status < 400;
    expect(calls(report, 'POST', /warehouses\/a1b2c3d4e5f60001\/stop$/).filter(beforePatch)).toHaveLength(2);
    const terminations = calls(report, 'POST', /clusters\/delete$/).filter(
      (e) => beforePatch(e) && (e.body as Json).cluster_id === '1129-063001-demo01',
    );
    expect(terminations).toHaveLength(2);
    await expectRestoredAsBefore('compute-comes-back', report);
  });
});

describe('Scenario: an unrelated key expires', () => {
  it('does nothing', async () => {
    const report = await run('unrelated-key-noop');
    expect(report.status).toBe('SUCCEEDED');
    expect((report.output as Json).mode).toBe('noop');
    expect(writes(report)).toEqual([]);
  });
});

describe('Scenario: the demo', () => {
  it('succeeds with every invariant holding and a small state payload', async () => {
    const report = await run('demo');
    expect(report.status).toBe('SUCCEEDED');
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expect(report.maxStatePayloadBytes).toBeLessThan(64 * 1024);
    expect(report.downtime[0]?.windowSeconds).toBeGreaterThan(0);
  });
});
