import { describe, expect, it } from 'vitest';
import type { AccountApi } from '../../lib/databricks/api.ts';
import type { Credential, Workspace } from '../../lib/databricks/types.ts';
import { CrossAccountRoleUnknown, databricksGrantFor } from '../../lib/kms/grant.ts';
import { loadSettings } from '../../lib/settings.ts';

const WS = 1234567890123456;
const ROLE = 'arn:aws:iam::111122223333:role/databricks-cross-account';
const settings = loadSettings({
  DATABRICKS_ACCOUNT_ID: 'acc-main',
  DATABRICKS_CREDENTIALS_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf',
  DATABRICKS_POLICY_ACCOUNT_IDS: 'acc-main, acc-other',
});

/** The two Account API reads the grant needs; every other method is unused here. */
function account(workspace: Partial<Workspace>, credentials: Credential[] = []) {
  const calls: string[] = [];
  const api = {
    accountId: 'acc-main',
    getWorkspace: async (id: number) => {
      calls.push(`getWorkspace ${id}`);
      return { workspace_id: id, ...workspace } as Workspace;
    },
    getCredential: async (id: string) => {
      calls.push(`getCredential ${id}`);
      const found = credentials.find((c) => c.credentials_id === id);
      if (!found) throw new Error(`credential ${id} not found`);
      return found;
    },
  } as unknown as AccountApi;
  return { api, calls };
}

describe('databricksGrantFor', () => {
  it('uses the deployment principal and policy account ids without calling Databricks for managed services', async () => {
    // Prepare
    const { api, calls } = account({});
    // Act
    const grant = await databricksGrantFor({
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      workspaceId: WS,
      settings,
      account: api,
    });
    // Assess
    expect(grant).toEqual({
      useCases: ['MANAGED_SERVICES'],
      databricksPrincipalArn: 'arn:aws:iam::414351767826:root',
      accountIds: ['acc-main', 'acc-other'],
      reuseKeyForClusterVolumes: true,
    });
    expect(calls).toEqual([]);
  });

  it("looks up the workspace's cross-account role for a storage key that encrypts cluster volumes", async () => {
    // Prepare
    const { api, calls } = account({ credentials_id: 'cred-1' }, [
      { credentials_id: 'cred-1', aws_credentials: { sts_role: { role_arn: ROLE } } },
    ]);
    // Act
    const grant = await databricksGrantFor({
      useCases: ['MANAGED_SERVICES', 'STORAGE'],
      reuseKeyForClusterVolumes: true,
      workspaceId: WS,
      settings,
      account: api,
    });
    // Assess
    expect(grant.ebsRoleArn).toBe(ROLE);
    expect(calls).toEqual([`getWorkspace ${WS}`, 'getCredential cred-1']);
  });

  it('does not look up the role when the storage key does not encrypt cluster volumes', async () => {
    // Prepare
    const { api, calls } = account({ credentials_id: 'cred-1' });
    // Act
    const grant = await databricksGrantFor({
      useCases: ['STORAGE'],
      reuseKeyForClusterVolumes: false,
      workspaceId: WS,
      settings,
      account: api,
    });
    // Assess
    expect(grant.ebsRoleArn).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('raises CrossAccountRoleUnknown naming the workspace when it has no credentials_id', async () => {
    // Prepare
    const { api } = account({});
    // Act
    const error = await databricksGrantFor({
      useCases: ['STORAGE'],
      reuseKeyForClusterVolumes: true,
      workspaceId: WS,
      settings,
      account: api,
    }).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(CrossAccountRoleUnknown);
    expect((error as Error).message).toContain(String(WS));
  });

  it('raises CrossAccountRoleUnknown naming the credential configuration when it has no role ARN', async () => {
    // Prepare
    const { api } = account({ credentials_id: 'cred-2' }, [
      { credentials_id: 'cred-2', aws_credentials: {} },
    ]);
    // Act
    const error = await databricksGrantFor({
      useCases: ['STORAGE'],
      reuseKeyForClusterVolumes: true,
      workspaceId: WS,
      settings,
      account: api,
    }).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({
      name: 'CrossAccountRoleUnknown',
      message: expect.stringContaining('cred-2'),
    });
  });
});
