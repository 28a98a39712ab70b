import { describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import { checkInvariants } from '../../local/runner/invariants.ts';
import type { Report, RunTrace } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { loadScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

type Json = Record<string, unknown>;
const SCENARIO = new URL('../../local/scenarios/key-policy-denies.json', import.meta.url).pathname;
const WS = 1234567890123456;
const OLD_KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NEW_KEY_ID = '5678abcd-56ef-78ab-90cd-567890abcdef';
const DENY_SID = 'Deny Databricks until the security review of this key is done';

const path = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const workspaceOf = (workspaces: unknown[]) =>
  workspaces.find((w) => (w as Json).workspace_id === WS) as Json;
const ids = (list: unknown, idField: string, states: string[]) =>
  ((list as Json[] | undefined) ?? [])
    .filter((x) => states.includes(String(x.state)))
    .map((x) => x[idField])
    .sort();

/** One run shared by the tests: the scenario and its report. */
let run: Promise<{ scenario: Awaited<ReturnType<typeof loadScenario>>; report: Report }> | undefined;
const runOnce = () => {
  run ??= loadScenario(SCENARIO).then(async (scenario) => ({
    scenario,
    report: await runScenario(scenario),
  }));
  return run;
};

describe('Scenario: the target key policy denies Databricks', () => {
  it('fails with KeyPolicyDeniesDatabricks, sends no PATCH and restores compute on the old key', async () => {
    // Prepare, Act
    const { scenario, report } = await runOnce();
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyPolicyDeniesDatabricks');
    expect(report.error?.cause).toContain(`"${DENY_SID}" denies kms:Decrypt`);
    expect(report.error?.cause).toContain('nothing was PATCHed');
    expect(report.callLog.filter((e) => e.method === 'PATCH' && /\/workspaces\//.test(path(e)))).toEqual([]);

    const after = workspaceOf(report.final.databricks.workspaces);
    const config = (report.final.databricks.keyConfigs as Json[]).find(
      (c) => c.customer_managed_key_id === after.managed_services_customer_managed_key_id,
    );
    expect((config?.aws_key_info as Json | undefined)?.key_arn).toBe(OLD_KEY);

    // The policy patch added the Allow for Databricks, and the Deny still won.
    const newKey = (report.final.aws.keys as Json[]).find((k) => k.keyId === NEW_KEY_ID);
    const statements = (newKey?.policy as { Statement: Json[] } | undefined)?.Statement ?? [];
    expect(statements.map((s) => s.Sid)).toEqual(
      expect.arrayContaining([
        DENY_SID,
        'Allow Databricks to use KMS key for managed services in the control plane',
      ]),
    );

    // Compute was stopped for the PATCH that never came, and is back as it was.
    const before = workspaceOf(scenario.databricks.workspaces as unknown[]);
    expect(report.callLog.some((e) => e.method === 'POST' && /clusters\/delete$/.test(path(e)))).toBe(true);
    const ranClusters = ((before.clusters as Json[]) ?? [])
      .filter(
        (c) =>
          ['RUNNING', 'PENDING'].includes(String(c.state)) &&
          ['UI', 'API'].includes(String(c.cluster_source)),
      )
      .map((c) => c.cluster_id)
      .sort();
    expect(ids(after.clusters, 'cluster_id', ['RUNNING']).filter((id) => ranClusters.includes(id))).toEqual(
      ranClusters,
    );
    expect(ids(after.warehouses, 'id', ['RUNNING'])).toEqual(ids(before.warehouses, 'id', ['RUNNING']));
    for (const job of (before.jobs as Json[]) ?? []) {
      const now = ((after.jobs as Json[]) ?? []).find((j) => j.job_id === job.job_id);
      for (const field of ['schedule', 'continuous', 'trigger']) {
        const was = ((job.settings as Json)[field] as Json | undefined)?.pause_status;
        if (was)
          expect(((now?.settings as Json | undefined)?.[field] as Json | undefined)?.pause_status).toBe(was);
      }
    }
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  });

  it('breaks the invariant no-patch-without-usable-key with a PATCH onto the denied key, and only then', async () => {
    const { scenario, report } = await runOnce();
    const newConfig = (report.final.databricks.keyConfigs as Json[]).find((c) =>
      String((c.aws_key_info as Json).key_arn).endsWith(`/${NEW_KEY_ID}`),
    );
    expect(newConfig).toBeDefined();
    const patch: CallLogEntry = {
      t: 900,
      method: 'PATCH',
      path: `/api/2.0/accounts/${scenario.databricks.accountId}/workspaces/${WS}`,
      status: 200,
      body: { managed_services_customer_managed_key_id: newConfig?.customer_managed_key_id },
      host: 'account',
    };
    const trace = { taskCalls: [] } as unknown as RunTrace;
    const invariant = (r: Report) =>
      checkInvariants(scenario, r, trace).find((i) => i.name === 'no-patch-without-usable-key');

    const patched = { ...report, callLog: [...report.callLog, patch] };
    expect(invariant(patched)?.holds).toBe(false);
    expect(invariant(patched)?.detail).toContain(`denies Databricks: "${DENY_SID}" denies kms:Decrypt`);

    const withoutDeny = structuredClone(patched);
    for (const key of withoutDeny.final.aws.keys as Json[]) {
      const policy = key.policy as { Statement: Json[] };
      policy.Statement = policy.Statement.filter((s) => s.Sid !== DENY_SID);
    }
    expect(invariant(withoutDeny)).toMatchObject({ holds: true });
  });
});
