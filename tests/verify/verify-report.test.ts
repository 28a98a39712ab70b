import { describe, expect, it } from 'vitest';
import { runScenario } from '../../local/runner/run.ts';
import { parseScenario } from '../../local/scenario.ts';
import { ACCOUNT, adminPolicy, OLD_CONFIG, OLD_KEY, OLD_KEY_ID } from '../recovery/harness.ts';

/**
 * A verification that changed something before it failed says so (nothing half-done goes unreported): with
 * `repairPolicy`, the policy of a key that is also disabled is still re-granted, and the error names it.
 */

describe('verify with repairPolicy that fails', () => {
  it('says it re-patched the policy as asked', async () => {
    // Prepare: the workspace's key is disabled and its policy lost the Databricks grant
    const scenario = parseScenario({
      name: 'verify-repair-disabled',
      aws: {
        accountId: ACCOUNT,
        keys: [{ keyId: OLD_KEY_ID, policy: adminPolicy, state: 'Disabled' }],
      },
      databricks: {
        keyConfigs: [
          {
            customer_managed_key_id: OLD_CONFIG,
            use_cases: ['MANAGED_SERVICES'],
            aws_key_info: { key_arn: OLD_KEY },
          },
        ],
        workspaces: [
          {
            workspace_id: 1234567890123456,
            deployment_name: 'acme-prod',
            managed_services_customer_managed_key_id: OLD_CONFIG,
          },
        ],
      },
      input: { workspaceIds: [1234567890123456], keyArn: OLD_KEY, verify: true, repairPolicy: true },
    });
    // Act
    const report = await runScenario(scenario);
    // Assess
    expect(report.error?.name).toBe('VerificationFailed');
    expect(report.error?.cause).toContain('KeyDisabled');
    expect(report.error?.cause).toContain(
      'The key policy was re-patched as asked (repairPolicy) for workspace(s) 1234567890123456.',
    );
    const policy = JSON.stringify(report.final.aws.keys);
    expect(policy).toContain('414351767826');
  }, 60_000);
});
