import { describe, expect, it } from 'vitest';
import type { KeyUseCase } from '../../lib/databricks/types.ts';
import type { Plan } from '../../lib/rotation.ts';
import { verifyKeyUse } from '../../lib/verify.ts';
import {
  AWS_ACCOUNT,
  arnOf,
  FakeAccount,
  FakeKms,
  keyConfig,
  OLD_KEY,
  settingsWith,
  workspace,
} from '../plan/fakes.ts';
import { policyGranting, WS } from '../workspace/items.ts';

/**
 * DESIGN §3 (`KMS CMK Rotation`: verify the policy still serves Databricks) with §6.9 (an explicit Deny that
 * applies to Databricks is a refusal, as it is for KMS): a key in use whose policy still has the grant but
 * also denies Databricks must fail verification so the alarm fires, and a Deny is never repaired.
 */

const WS2 = 2345678901234567;
const ROLE = `arn:aws:iam::${AWS_ACCOUNT}:role/databricks-cross-account`;
const DATABRICKS = 'arn:aws:iam::414351767826:root';

const REVOKE = {
  Sid: 'Revoke Databricks',
  Effect: 'Deny',
  Principal: { AWS: DATABRICKS },
  Action: 'kms:*',
  Resource: '*',
};

/** `policyGranting(useCases)` (plus the EBS statement for STORAGE) with `extra` statements appended. */
function policy(useCases: KeyUseCase[], ...extra: unknown[]): string {
  const parsed = JSON.parse(policyGranting(useCases)) as { Statement: unknown[] };
  if (useCases.includes('STORAGE')) {
    parsed.Statement.push({
      Sid: 'Allow Databricks to use KMS key for EBS',
      Effect: 'Allow',
      Principal: { AWS: ROLE },
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
      Resource: '*',
      Condition: { 'ForAnyValue:StringLike': { 'kms:ViaService': 'ec2.*.amazonaws.com' } },
    });
  }
  return JSON.stringify({ ...parsed, Statement: [...parsed.Statement, ...extra] });
}

function verifyPlan(workspaceIds: number[], repairPolicy = false): Plan {
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
    ...(repairPolicy ? { repairPolicy } : {}),
    workspaces: workspaceIds.map((id) => ({
      workspaceId: id,
      deploymentName: `dep-${id}`,
      region: 'us-east-1',
      current: { managedServicesKeyConfigId: 'cfg-ms', storageKeyConfigId: null },
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      steps: [],
    })),
  };
}

/** WS uses the key for managed services; WS2 (when asked) for storage, reusing it for cluster volumes. */
function setup(keyPolicy: string, options: { storageWorkspace?: boolean; state?: string } = {}) {
  const workspaces = [workspace({ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-ms' })];
  if (options.storageWorkspace) {
    workspaces.push(
      workspace({ workspace_id: WS2, storage_customer_managed_key_id: 'cfg-st', credentials_id: 'cred-2' }),
    );
  }
  const account = new FakeAccount(
    workspaces,
    [
      keyConfig('cfg-ms', OLD_KEY, ['MANAGED_SERVICES']),
      keyConfig('cfg-st', OLD_KEY, ['STORAGE'], { reuse: true }),
    ],
    [{ credentials_id: 'cred-2', aws_credentials: { sts_role: { role_arn: ROLE } } }],
  );
  const kms = new FakeKms([{ keyId: OLD_KEY, policy: keyPolicy, state: options.state }]);
  return { account, kms, deps: { account, kms, settings: settingsWith() } };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

describe('Step: verify — explicit Deny', () => {
  it('fails with KeyPolicyDeniesDatabricks naming the Deny although the grant is still there, writing nothing', async () => {
    // Prepare
    const { account, kms, deps } = setup(policy(['MANAGED_SERVICES'], REVOKE));
    // Act
    const error = await rejection(verifyKeyUse(verifyPlan([WS]), deps));
    // Assess
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain('"Revoke Databricks" denies kms:Decrypt, kms:Encrypt');
    expect(error.message).toContain(`workspace(s) ${WS}`);
    expect(error.message).toContain('never repaired automatically');
    const workspaces = error.details?.workspaces as Array<{ denied?: string[]; missing?: string[] }>;
    expect(workspaces[0]?.denied).toEqual(['"Revoke Databricks"']);
    expect(workspaces[0]?.missing).toBeUndefined();
    expect(kms.writes()).toEqual([]);
    expect(account.writes()).toEqual([]);
  });

  it('does not repair a policy that denies Databricks, even when repair was asked', async () => {
    // The grant is gone too: repair would add it, but the Deny would still win, so nothing is written.
    const { kms, deps } = setup(policy([], REVOKE));
    const error = await rejection(verifyKeyUse(verifyPlan([WS], true), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain('missing "Allow Databricks to use KMS key for managed services');
    expect(kms.writes()).toEqual([]);
  });

  it('repairs nothing for any workspace when one workspace’s use of the key is denied', async () => {
    // Denies only what storage needs: the managed-services workspace's drift alone would be repaired.
    const noDataKeys = { ...REVOKE, Sid: 'No data keys', Principal: '*', Action: 'kms:GenerateDataKey*' };
    const { kms, deps } = setup(policy(['STORAGE'], noDataKeys), { storageWorkspace: true });
    const error = await rejection(verifyKeyUse(verifyPlan([WS, WS2], true), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain(`workspace(s) ${WS2}`);
    expect(error.message).toContain(
      "the workspace's cross-account role kms:GenerateDataKey, kms:GenerateDataKeyPair, kms:GenerateDataKeyPairWithoutPlaintext, kms:GenerateDataKeyWithoutPlaintext for cluster volumes (EBS)",
    );
    expect(kms.writes()).toEqual([]);
  });

  it('fails when a Deny breaks only the cross-account role’s use of a storage key for cluster volumes', async () => {
    const noGrants = {
      Sid: 'No grants',
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:CreateGrant',
      Resource: '*',
    };
    const { deps } = setup(policy(['MANAGED_SERVICES', 'STORAGE'], noGrants), { storageWorkspace: true });
    const error = await rejection(verifyKeyUse(verifyPlan([WS, WS2]), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain(
      `"No grants" denies the workspace's cross-account role kms:CreateGrant for cluster volumes (EBS) (workspace(s) ${WS2})`,
    );
    const workspaces = error.details?.workspaces as Array<{ workspaceId: number; denied?: string[] }>;
    expect(workspaces.map((w) => [w.workspaceId, w.denied])).toEqual([
      [WS, undefined],
      [WS2, ['"No grants"']],
    ]);
  });

  it('names a Deny without Sid by its index', async () => {
    const { Sid: _, ...unnamed } = REVOKE;
    const { deps } = setup(policy(['MANAGED_SERVICES'], unnamed));
    const error = await rejection(verifyKeyUse(verifyPlan([WS]), deps));
    expect(error.message).toContain('statement at index 2 denies kms:Decrypt, kms:Encrypt');
  });

  it('says what else it found beside the Deny', async () => {
    const { deps } = setup(policy(['MANAGED_SERVICES'], REVOKE), { state: 'Disabled' });
    const error = await rejection(verifyKeyUse(verifyPlan([WS]), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain('Other problems found:');
    expect(error.message).toContain('KeyDisabled');
  });

  it('verifies as sound a policy whose Deny does not apply to Databricks', async () => {
    const insecure = {
      Sid: 'Deny insecure transport',
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    };
    const { kms, deps } = setup(policy(['MANAGED_SERVICES'], insecure));
    const result = await verifyKeyUse(verifyPlan([WS]), deps);
    expect(result.workspaces[0]?.denied).toBeUndefined();
    expect(result.workspaces[0]?.findings).toEqual([
      `key configuration(s) and key policy of ${arnOf(OLD_KEY)} are sound`,
    ]);
    expect(kms.writes()).toEqual([]);
  });

  it('still repairs a drifted policy without a Deny for Databricks when repair was asked', async () => {
    const { kms, deps } = setup(policy([]));
    const result = await verifyKeyUse(verifyPlan([WS], true), deps);
    expect(result.workspaces[0]?.policyRepatched).toBe(true);
    expect(kms.writes()).toEqual(['PutKeyPolicy']);
  });
});
