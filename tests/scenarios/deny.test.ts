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

const workspaceOf = (workspaces: unknown[]) =>
  workspaces.find((w) => (w as Json).workspace_id === WS) as Json;
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
  it('fails in the plan with KeyPolicyDeniesDatabricks, before anything is touched (DESIGN §6.9)', async () => {
    // Prepare, Act
    const { scenario, report } = await runOnce();
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyPolicyDeniesDatabricks');
    expect(report.error?.cause).toContain(`"${DENY_SID}" denies kms:Decrypt`);
    expect(report.error?.cause).toContain('nothing was touched');
    // No Databricks write (no stop, no registration, no PATCH), no key policy write.
    expect(report.callLog.filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'))).toEqual([]);
    expect((report.kmsCalls ?? []).filter((c) => c.operation === 'PutKeyPolicy')).toEqual([]);
    const before = (scenario.aws.keys ?? []).find((k) => k.keyId === NEW_KEY_ID);
    const after = (report.final.aws.keys as Json[]).find((k) => k.keyId === NEW_KEY_ID);
    expect(after?.policy).toEqual(before?.policy);
    const workspace = workspaceOf(report.final.databricks.workspaces);
    const config = (report.final.databricks.keyConfigs as Json[]).find(
      (c) => c.customer_managed_key_id === workspace.managed_services_customer_managed_key_id,
    );
    expect((config?.aws_key_info as Json | undefined)?.key_arn).toBe(OLD_KEY);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  });

  it('breaks the invariant no-patch-without-usable-key with a PATCH onto the denied key, and only then', async () => {
    const { scenario, report } = await runOnce();
    // A configuration for the denied key, as a product that skipped the check would have registered.
    const newConfig = {
      customer_managed_key_id: 'cfg-denied',
      account_id: scenario.databricks.accountId,
      use_cases: ['MANAGED_SERVICES'],
      aws_key_info: { key_arn: OLD_KEY.replace(/key\/.*$/, `key/${NEW_KEY_ID}`), key_region: 'us-east-1' },
    };
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

    const patched = structuredClone({ ...report, callLog: [...report.callLog, patch] });
    patched.final.databricks.keyConfigs.push(newConfig);
    expect(invariant(patched)?.holds).toBe(false);
    expect(invariant(patched)?.detail).toContain(`denies Databricks: "${DENY_SID}" denies kms:Decrypt`);

    const withoutDeny = structuredClone(patched);
    for (const key of withoutDeny.final.aws.keys as Json[]) {
      const policy = key.policy as { Statement: Json[] };
      policy.Statement = policy.Statement.filter((s) => s.Sid !== DENY_SID);
      // …and the Allow the patch step would have added
      policy.Statement.push({
        Sid: 'Allow Databricks to use KMS key for managed services in the control plane',
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::414351767826:root' },
        Action: ['kms:Encrypt', 'kms:Decrypt'],
        Resource: '*',
        Condition: {
          StringEquals: { 'aws:PrincipalTag/DatabricksAccountId': [scenario.databricks.accountId] },
        },
      });
    }
    expect(invariant(withoutDeny)).toMatchObject({ holds: true });
  });
});

describe('Invariant key-policy-statements-preserved', () => {
  it('breaks when a statement the product does not own was changed, even with its Sid and principal kept', async () => {
    const { scenario, report } = await runOnce();
    const trace = { taskCalls: [] } as unknown as RunTrace;
    const invariant = (r: Report) =>
      checkInvariants(scenario, r, trace).find((i) => i.name === 'key-policy-statements-preserved');
    expect(invariant(report)?.holds).toBe(true);

    // The security team's Deny, rewritten (its actions changed) while its Sid and principal stay.
    const changed = structuredClone(report);
    for (const key of changed.final.aws.keys as Json[]) {
      for (const statement of (key.policy as { Statement: Json[] }).Statement) {
        if (statement.Sid === DENY_SID) statement.Action = ['kms:Encrypt'];
      }
    }
    expect(invariant(changed)?.holds).toBe(false);
    expect(invariant(changed)?.detail).toContain(`${DENY_SID} lost or changed`);
  });
});

describe('Scenario: a Deny on the cluster-volume (EBS) path of a storage key', () => {
  it('refuses a first storage key that cluster volumes could not use, before anything is touched', async () => {
    // Prepare: no Deny for Databricks itself, but no principal may create grants (EBS needs them); the
    // storage key would be set for good and every cluster launch would then fail.
    const scenario = await loadScenario(SCENARIO);
    const key = (scenario.aws.keys ?? []).find((k) => k.keyId === NEW_KEY_ID) as Json;
    const policy = key.policy as { Statement: Json[] };
    policy.Statement = [
      ...policy.Statement.filter((s) => s.Sid !== DENY_SID),
      { Sid: 'No grants', Effect: 'Deny', Principal: '*', Action: 'kms:CreateGrant', Resource: '*' },
    ];
    (scenario.input as Json).useCases = ['MANAGED_SERVICES', 'STORAGE'];
    // Act
    const report = await runScenario(scenario);
    // Assess
    expect(report.status).toBe('FAILED');
    expect(report.error?.name).toBe('KeyPolicyDeniesDatabricks');
    expect(report.error?.cause).toContain('"No grants"');
    expect(report.callLog.filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'))).toEqual([]);
    expect((report.kmsCalls ?? []).filter((c) => c.operation === 'PutKeyPolicy')).toEqual([]);
  });
});
