import { describe, expect, it } from 'vitest';
import type { Workspace } from '../../lib/databricks/types.ts';
import { mergeDatabricksStatements } from '../../lib/kms/policy.ts';
import { judgeWorkspace } from '../../lib/workspace/check.ts';
import { findReusableKeyConfig, registerKeyConfig } from '../../lib/workspace/key-config.ts';
import { updateWorkspaceKey } from '../../lib/workspace/update.ts';
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
import { checkItem, policyGranting, rotationItem, updateItem, WS } from './items.ts';

const NOW = 5_000_000;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('Step: register-key-config', () => {
  it('creates a configuration with the changed use cases and the alias', async () => {
    // Prepare
    const account = new FakeAccount([], [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'])]);
    // Act
    const result = await registerKeyConfig(account, rotationItem());
    // Assess
    expect(result).toEqual({
      customerManagedKeyId: 'cmk-new-1',
      reused: false,
      useCases: ['MANAGED_SERVICES'],
    });
    expect(account.calls.find((c) => c.method === 'createKeyConfig')?.args[0]).toEqual({
      use_cases: ['MANAGED_SERVICES'],
      aws_key_info: { key_arn: arnOf(NEW_KEY), key_alias: 'alias/databricks-managed-services' },
    });
  });

  it('reuses the configuration it created when run twice', async () => {
    const account = new FakeAccount([], []);
    const first = await registerKeyConfig(account, rotationItem());
    const second = await registerKeyConfig(account, rotationItem());
    expect(second).toEqual({ ...first, reused: true });
    expect(account.writes()).toEqual(['createKeyConfig']);
  });

  it('sends reuse_key_for_cluster_volumes only with STORAGE and reuses only a matching one', async () => {
    const account = new FakeAccount(
      [],
      [keyConfig('cfg-both-noebs', NEW_KEY, ['STORAGE', 'MANAGED_SERVICES'], { reuse: false })],
    );
    const result = await registerKeyConfig(account, rotationItem({ managedServices: true, storage: true }));
    expect(result.reused).toBe(false);
    expect(account.calls.find((c) => c.method === 'createKeyConfig')?.args[0]).toMatchObject({
      use_cases: ['MANAGED_SERVICES', 'STORAGE'],
      aws_key_info: { reuse_key_for_cluster_volumes: true },
    });
  });

  it('does not reuse a configuration with a different use-case set', () => {
    const configs = [keyConfig('both', NEW_KEY, ['MANAGED_SERVICES', 'STORAGE'])];
    expect(
      findReusableKeyConfig(configs, {
        keyArn: arnOf(NEW_KEY),
        useCases: ['MANAGED_SERVICES'],
        reuseKeyForClusterVolumes: true,
      }),
    ).toBeUndefined();
    expect(
      findReusableKeyConfig(configs, {
        keyArn: arnOf(NEW_KEY),
        useCases: ['STORAGE', 'MANAGED_SERVICES'],
        reuseKeyForClusterVolumes: true,
      })?.customer_managed_key_id,
    ).toBe('both');
  });
});

describe('Step: update-workspace', () => {
  function setup(options: { ws?: Partial<Workspace>; policy?: string; state?: string } = {}) {
    const account = new FakeAccount(
      [workspace({ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old', ...options.ws })],
      [],
    );
    const kms = new FakeKms([
      {
        keyId: NEW_KEY,
        policy: options.policy ?? policyGranting(['MANAGED_SERVICES', 'STORAGE']),
        state: options.state,
      },
    ]);
    const settings = settingsWith();
    return { account, kms, deps: { account, kms, settings, now: NOW } };
  }

  it('patches only the managed-services field and returns the deadline', async () => {
    const { account, deps } = setup();
    const result = await updateWorkspaceKey(updateItem(), deps);
    expect(result).toEqual({
      patched: true,
      fields: ['managed_services_customer_managed_key_id'],
      sentFields: ['managed_services_customer_managed_key_id'],
      patchedAt: NOW,
      deadline: NOW + 120 * 60_000, // WORKSPACE_UPDATE_TIMEOUT_MINUTES defaults to 120
    });
    expect(account.calls.find((c) => c.method === 'updateWorkspaceKeys')?.args).toEqual([
      WS,
      { managed_services_customer_managed_key_id: 'cfg-new' },
    ]);
  });

  it('sends no second PATCH when run again', async () => {
    const { account, deps } = setup();
    await updateWorkspaceKey(updateItem(), deps);
    const again = await updateWorkspaceKey(updateItem(), deps);
    expect(again.patched).toBe(false);
    expect(account.writes()).toEqual(['updateWorkspaceKeys']);
  });

  it('refuses a storage change when the workspace got a storage key meanwhile, sending nothing', async () => {
    const { account, deps } = setup({ ws: { storage_customer_managed_key_id: 'cfg-someone-else' } });
    const item = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const error = await rejection(updateWorkspaceKey(item, deps));
    expect(error.name).toBe('StorageKeyAlreadySet');
    expect(account.writes()).toEqual([]);
  });

  it('refuses with KeyPolicyMissingDatabricksGrant when the policy lost the Databricks statement', async () => {
    const { account, deps } = setup({ policy: policyGranting([]) });
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    expect(error.name).toBe('KeyPolicyMissingDatabricksGrant');
    expect(error.message).toContain(arnOf(NEW_KEY));
    expect(account.writes()).toEqual([]);
  });

  it('refuses when the policy grants managed services but STORAGE is being added', async () => {
    const { account, deps } = setup({ policy: policyGranting(['MANAGED_SERVICES']) });
    const item = updateItem(
      'cfg-new',
      rotationItem({ managedServices: true, storage: true }, { reuseKeyForClusterVolumes: false }),
    );
    const error = await rejection(updateWorkspaceKey(item, deps));
    expect(error.name).toBe('KeyPolicyMissingDatabricksGrant');
    expect(account.writes()).toEqual([]);
  });

  it('refuses when the EBS statement lost this workspace’s role (another workspace’s patch of a shared key)', async () => {
    // Prepare: storage with cluster volumes; the policy has the storage statements, and the EBS statement
    // names only another workspace's role (its patch overwrote this one's)
    const ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account-prod';
    const OTHER = 'arn:aws:iam::111122223333:role/databricks-cross-account-dev';
    const grant = (ebsRoleArn: string) => ({
      useCases: ['MANAGED_SERVICES', 'STORAGE'] as Array<'MANAGED_SERVICES' | 'STORAGE'>,
      databricksPrincipalArn: settingsWith().databricksPrincipalArn,
      accountIds: settingsWith().policyAccountIds,
      reuseKeyForClusterVolumes: true,
      ebsRoleArn,
      awsAccountId: '111122223333',
    });
    const policyFor = (role: string) =>
      mergeDatabricksStatements(policyGranting(['MANAGED_SERVICES', 'STORAGE']), grant(role)).policy;
    const item = updateItem('cfg-new', rotationItem({ managedServices: true, storage: true }));
    const run = async (policy: string) => {
      const { account, deps } = setup({ policy, ws: { credentials_id: 'cred-prod' } });
      account.credentials.push({
        credentials_id: 'cred-prod',
        aws_credentials: { sts_role: { role_arn: ROLE } },
      });
      return { account, outcome: await updateWorkspaceKey(item, deps).catch((e: Error) => e) };
    };
    // Act
    const lost = await run(policyFor(OTHER));
    const kept = await run(policyFor(ROLE));
    // Assess
    expect((lost.outcome as Error).name).toBe('KeyPolicyMissingDatabricksGrant');
    expect((lost.outcome as Error).message).toContain("another workspace's patch overwrote this one's");
    expect(lost.account.writes()).toEqual([]);
    expect(kept.outcome).toMatchObject({ patched: true });
  });

  it('refuses with KeyDisabled when the key was disabled after the plan, sending nothing', async () => {
    const { account, deps } = setup({ state: 'Disabled' });
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    expect(error.name).toBe('KeyDisabled');
    expect(account.writes()).toEqual([]);
  });

  it('refuses a FAILED workspace with WorkspaceNotRunning', async () => {
    const { account, deps } = setup({ ws: { workspace_status: 'FAILED' } });
    const error = await rejection(updateWorkspaceKey(updateItem(), deps));
    expect(error.name).toBe('WorkspaceNotRunning');
    expect(account.writes()).toEqual([]);
  });

  it('does not PATCH again while an update is already provisioning', async () => {
    const { account, deps } = setup({ ws: { workspace_status: 'PROVISIONING' } });
    const result = await updateWorkspaceKey(updateItem(), deps);
    expect(result.patched).toBe(false);
    expect(result.fields).toEqual(['managed_services_customer_managed_key_id']);
    expect(account.writes()).toEqual([]);
  });
});

describe('Step: check-workspace (judgement)', () => {
  const ws = (overrides: Partial<Workspace>) =>
    workspace({ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old', ...overrides });
  const judge = (w: Workspace, item = checkItem(), now = 2_000_000) => {
    try {
      return judgeWorkspace(w, item, now);
    } catch (error) {
      return error as Error;
    }
  };

  it('reports RUNNING when the workspace runs on the new configuration', () => {
    expect(judge(ws({ managed_services_customer_managed_key_id: 'cfg-new' }))).toMatchObject({
      status: 'RUNNING',
    });
  });

  it('keeps waiting while the workspace is provisioning and remembers it', () => {
    expect(judge(ws({ workspace_status: 'PROVISIONING' }))).toEqual({
      status: 'WAITING',
      workspaceStatus: 'PROVISIONING',
      sawProvisioning: true,
    });
  });

  it('keeps waiting while a customer-managed VPC workspace stays RUNNING on the old id before the deadline', () => {
    expect(judge(ws({}))).toEqual({ status: 'WAITING', workspaceStatus: 'RUNNING', sawProvisioning: false });
  });

  it('detects a silent revert: RUNNING on the old id after PROVISIONING', () => {
    const item = checkItem({}, { status: 'WAITING', workspaceStatus: 'PROVISIONING', sawProvisioning: true });
    const error = judge(ws({}), item);
    expect((error as Error).name).toBe('WorkspaceUpdateReverted');
    expect((error as Error).message).toContain('Compute will be restored');
  });

  it('does not call a customer-managed VPC workspace still on the old id at the deadline reverted', () => {
    // It stays RUNNING while it updates: nothing Databricks shows says the update is over (recovery waits).
    const error = judge(ws({}), checkItem(), 1_000_000 + 61 * 60_000);
    expect((error as Error).name).toBe('WorkspaceUpdateTimedOut');
  });

  it('times out a workspace still provisioning at the deadline', () => {
    const error = judge(ws({ workspace_status: 'PROVISIONING' }), checkItem(), 1_000_000 + 61 * 60_000);
    expect((error as Error).name).toBe('WorkspaceUpdateTimedOut');
  });

  it.each(['FAILED', 'BANNED'] as const)(
    'fails with WorkspaceUpdateFailed on %s, quoting the status message',
    (status) => {
      const error = judge(ws({ workspace_status: status, workspace_status_message: 'KMS key inaccessible' }));
      expect((error as Error).name).toBe('WorkspaceUpdateFailed');
      expect((error as Error).message).toContain('KMS key inaccessible');
    },
  );

  it('requires every updated field to show the new configuration', () => {
    const item = checkItem({
      fields: ['managed_services_customer_managed_key_id', 'storage_customer_managed_key_id'],
    });
    expect(judge(ws({ managed_services_customer_managed_key_id: 'cfg-new' }), item)).toMatchObject({
      status: 'WAITING',
    });
    expect(
      judge(
        ws({
          managed_services_customer_managed_key_id: 'cfg-new',
          storage_customer_managed_key_id: 'cfg-new',
        }),
        item,
      ),
    ).toMatchObject({ status: 'RUNNING' });
  });
});
