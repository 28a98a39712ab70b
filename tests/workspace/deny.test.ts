import { describe, expect, it } from 'vitest';
import type { PolicyStatement } from '../../lib/kms/policy.ts';
import { KeyPolicyDeniesDatabricks } from '../../lib/workspace/errors.ts';
import { updateWorkspaceKey } from '../../lib/workspace/update.ts';
import { arnOf, FakeAccount, FakeKms, NEW_KEY, settingsWith, workspace } from '../plan/fakes.ts';
import { policyGranting, rotationItem, updateItem, WS } from './items.ts';

const NOW = 5_000_000;

/** The policy of `policyGranting` (Databricks granted everything) plus the given statements. */
function policyWith(useCases: Array<'MANAGED_SERVICES' | 'STORAGE'>, ...extra: PolicyStatement[]): string {
  const policy = JSON.parse(policyGranting(useCases)) as { Statement: PolicyStatement[] };
  return JSON.stringify({ ...policy, Statement: [...policy.Statement, ...extra] });
}

const denyDecryptToEveryone: PolicyStatement = {
  Sid: 'Deny decrypt outside the break-glass window',
  Effect: 'Deny',
  Principal: '*',
  Action: 'kms:Decrypt',
  Resource: '*',
};

function setup(policy: string, env: Record<string, string> = {}) {
  const account = new FakeAccount(
    [workspace({ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old' })],
    [],
  );
  const kms = new FakeKms([{ keyId: NEW_KEY, policy }]);
  return { account, kms, deps: { account, kms, settings: settingsWith(env), now: NOW } };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('Step: update-workspace — explicit Deny in the key policy (DESIGN §6.9)', () => {
  it('refuses with KeyPolicyDeniesDatabricks and sends no PATCH although an Allow grants Databricks', async () => {
    // Prepare
    const { account, deps } = setup(policyWith(['MANAGED_SERVICES'], denyDecryptToEveryone));
    // Act
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyDeniesDatabricks);
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(account.writes()).toEqual([]);
  });

  it('names the workspace, the key, the denying statement and its actions, and what to do', async () => {
    const { deps } = setup(policyWith(['MANAGED_SERVICES'], denyDecryptToEveryone));
    const error = (await rejection(updateWorkspaceKey(updateItem(), deps))) as KeyPolicyDeniesDatabricks;
    expect(error.message).toContain(`workspace ${WS} is not updated`);
    expect(error.message).toContain(arnOf(NEW_KEY));
    expect(error.message).toContain('"Deny decrypt outside the break-glass window" denies kms:Decrypt');
    expect(error.message).toContain('nothing was PATCHed');
    expect(error.message).toContain('remove those statements or narrow them');
    expect(error.details).toMatchObject({
      workspaceId: WS,
      keyArn: arnOf(NEW_KEY),
      denials: [{ index: 2, actions: ['kms:Decrypt'], unevaluated: [] }],
    });
  });

  it('names a statement without Sid by its index and says which condition it could not evaluate', async () => {
    const { account, deps } = setup(
      policyWith(['MANAGED_SERVICES'], {
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:*',
        Resource: '*',
        Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } },
      }),
    );
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain(
      'statement at index 2 denies kms:Decrypt, kms:Encrypt (condition not evaluated: aws:SourceIp; taken as applying)',
    );
    expect(account.writes()).toEqual([]);
  });

  it('reports the Deny, not the missing grant, when the policy has both problems', async () => {
    const { account, deps } = setup(policyWith([], denyDecryptToEveryone));
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(account.writes()).toEqual([]);
  });

  it('refuses a storage change when the Deny hits only a storage action, and patches managed services', async () => {
    const policy = policyWith(['MANAGED_SERVICES', 'STORAGE'], {
      Sid: 'No data keys',
      Effect: 'Deny',
      Principal: { AWS: 'arn:aws:iam::414351767826:root' },
      Action: 'kms:GenerateDataKey*',
      Resource: arnOf(NEW_KEY),
    });
    const storage = setup(policy);
    const item = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const error = await rejection(updateWorkspaceKey(item, storage.deps));
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain('"No data keys" denies kms:GenerateDataKey, kms:GenerateDataKeyPair');
    expect(storage.account.writes()).toEqual([]);

    const managedOnly = setup(policy);
    const result = await updateWorkspaceKey(updateItem(), managedOnly.deps);
    expect(result.patched).toBe(true);
    expect(managedOnly.account.writes()).toEqual(['updateWorkspaceKeys']);
  });

  it('patches when the only Deny names another principal or its condition excludes Databricks', async () => {
    const { account, deps } = setup(
      policyWith(
        ['MANAGED_SERVICES'],
        { ...denyDecryptToEveryone, Principal: { AWS: 'arn:aws:iam::999988887777:root' } },
        {
          Sid: 'Only this account and Databricks',
          Effect: 'Deny',
          Principal: '*',
          Action: 'kms:*',
          Resource: '*',
          Condition: { StringNotEquals: { 'aws:PrincipalAccount': ['111122223333', '414351767826'] } },
        },
        {
          Sid: 'TLS only',
          Effect: 'Deny',
          Principal: '*',
          Action: 'kms:*',
          Resource: '*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ),
    );
    const result = await updateWorkspaceKey(updateItem(), deps);
    expect(result.patched).toBe(true);
    expect(account.writes()).toEqual(['updateWorkspaceKeys']);
  });

  it('judges the Deny for the configured Databricks principal and policy account ids', async () => {
    const gov = 'arn:aws-us-gov:iam::044793339203:root';
    const denyGov: PolicyStatement = { ...denyDecryptToEveryone, Principal: { AWS: gov } };
    const onGov = setup(policyWith(['MANAGED_SERVICES'], denyGov), { DATABRICKS_PRINCIPAL_ARN: gov });
    expect((await rejection(updateWorkspaceKey(updateItem(), onGov.deps))).name).toBe(
      'KeyPolicyDeniesDatabricks',
    );
    expect(onGov.account.writes()).toEqual([]);

    const denyOtherAccountId: PolicyStatement = {
      ...denyDecryptToEveryone,
      Condition: { StringEquals: { 'aws:PrincipalTag/DatabricksAccountId': 'acc-second' } },
    };
    const twoAccounts = setup(policyWith(['MANAGED_SERVICES'], denyOtherAccountId), {
      DATABRICKS_POLICY_ACCOUNT_IDS: 'acc-0d6c9a2e,acc-second',
    });
    expect((await rejection(updateWorkspaceKey(updateItem(), twoAccounts.deps))).name).toBe(
      'KeyPolicyDeniesDatabricks',
    );
    const oneAccount = setup(policyWith(['MANAGED_SERVICES'], denyOtherAccountId));
    expect((await updateWorkspaceKey(updateItem(), oneAccount.deps)).patched).toBe(true);
  });
});
