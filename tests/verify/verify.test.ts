import { describe, expect, it } from 'vitest';
import type { Plan } from '../../lib/rotation.ts';
import { verifyKeyUse } from '../../lib/verify.ts';
import {
  arnOf,
  FakeAccount,
  FakeKms,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  workspace,
} from '../plan/fakes.ts';
import { policyGranting, WS } from '../workspace/items.ts';

function verifyPlan(workspaceIds: number[] = [WS]): Plan {
  return {
    mode: 'verify',
    dryRun: false,
    reason: 'test',
    trigger: { kind: 'keyRotated', keyArn: arnOf(OLD_KEY) },
    target: { keyArn: arnOf(OLD_KEY), keyId: OLD_KEY, region: 'us-east-1' },
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    oldKeyRetentionHours: 24,
    storageWaitSeconds: 0,
    emergency: false,
    maxConcurrency: 4,
    oldKeyArns: [],
    workspaces: workspaceIds.map((id) => ({
      workspaceId: id,
      deploymentName: `dep-${id}`,
      region: 'us-east-1',
      current: { managedServicesKeyConfigId: 'cfg-old', storageKeyConfigId: null },
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      steps: [],
    })),
  };
}

function setup(
  options: {
    policy?: string;
    state?: string;
    msConfig?: string;
    configs?: ReturnType<typeof keyConfig>[];
  } = {},
) {
  const account = new FakeAccount(
    [
      workspace({
        workspace_id: WS,
        managed_services_customer_managed_key_id: options.msConfig ?? 'cfg-old',
      }),
    ],
    options.configs ?? [
      keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES']),
      keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES']),
    ],
  );
  const kms = new FakeKms([
    { keyId: OLD_KEY, policy: options.policy ?? policyGranting(['MANAGED_SERVICES']), state: options.state },
  ]);
  return { account, kms, deps: { account, kms, settings: settingsWith() } };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('Step: verify', () => {
  it('reports a sound configuration and policy without writing anything', async () => {
    // Prepare
    const { account, kms, deps } = setup();
    // Act
    const result = await verifyKeyUse(verifyPlan(), deps);
    // Assess
    expect(result.workspaces).toEqual([
      expect.objectContaining({
        workspaceId: WS,
        keyConfigIds: ['cfg-old'],
        policyRepatched: false,
        added: [],
      }),
    ]);
    expect(kms.writes()).toEqual([]);
    expect(account.writes()).toEqual([]);
  });

  it('fails with KeyPolicyDrift naming the missing statement, and writes nothing, when repair was not asked', async () => {
    const { account, kms, deps } = setup({ policy: policyGranting([]) });
    const error = (await rejection(verifyKeyUse(verifyPlan(), deps))) as Error & {
      details?: { missing?: string[] };
    };
    expect(error.name).toBe('KeyPolicyDrift');
    expect(error.message).toContain(
      'Allow Databricks to use KMS key for managed services in the control plane',
    );
    expect(error.message).toContain('"repairPolicy": true');
    expect(error.details?.missing).toHaveLength(1);
    expect(kms.writes()).toEqual([]);
    expect(account.writes()).toEqual([]);
  });

  it('re-patches a drifted policy when repair was asked, and touches no workspace', async () => {
    const { account, kms, deps } = setup({ policy: policyGranting([]) });
    const result = await verifyKeyUse({ ...verifyPlan(), repairPolicy: true }, deps);
    expect(result.workspaces[0]?.policyRepatched).toBe(true);
    expect(result.workspaces[0]?.added.length).toBeGreaterThan(0);
    expect(kms.writes()).toEqual(['PutKeyPolicy']);
    expect(kms.keys[0]?.policy).toContain('414351767826');
    expect(account.writes()).toEqual([]);
  });

  it('fails with VerificationFailed when the key was disabled meanwhile', async () => {
    const { deps } = setup({ state: 'Disabled' });
    const error = await rejection(verifyKeyUse(verifyPlan(), deps));
    expect(error.name).toBe('VerificationFailed');
    expect(error.message).toContain(`workspace ${WS}`);
    expect(error.message).toContain('KeyDisabled');
  });

  it('fails with VerificationFailed when the key configuration no longer exists', async () => {
    const { deps } = setup({ configs: [] });
    const error = await rejection(verifyKeyUse(verifyPlan(), deps));
    expect(error.name).toBe('VerificationFailed');
    expect(error.message).toContain('cfg-old');
  });

  it('notes, without failing, a workspace that moved to another key meanwhile', async () => {
    const { kms, deps } = setup({ msConfig: 'cfg-new' });
    const result = await verifyKeyUse(verifyPlan(), deps);
    expect(result.workspaces[0]?.keyConfigIds).toEqual([]);
    expect(result.workspaces[0]?.findings.join(' ')).toContain(arnOf(NEW_KEY));
    expect(kms.calls.filter((c) => c.operation !== 'DescribeKey')).toEqual([]);
  });
});
