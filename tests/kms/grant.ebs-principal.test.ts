import { describe, expect, it } from 'vitest';
import type { AccountApi } from '../../lib/databricks/api.ts';
import type { Credential, Workspace } from '../../lib/databricks/types.ts';
import { KeyPolicyRejected } from '../../lib/kms/errors.ts';
import { databricksGrantFor } from '../../lib/kms/grant.ts';
import { loadSettings } from '../../lib/settings.ts';

/**
 * The EBS statement's principal, the workspace's cross-account role from its credential configuration, must
 * be an IAM role of the workspace's own AWS account: the account of the key (or, without the key ARN, the
 * deployment's account). A credential configuration naming anything else is refused before any policy is
 * read or written.
 */

const WS = 1234567890123456;
const ACCOUNT = '111122223333';
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/5678abcd-56ef-78ab-90cd-567890abcdef`;
const settings = loadSettings({
  DATABRICKS_ACCOUNT_ID: 'acc-main',
  DATABRICKS_CREDENTIALS_SECRET_ARN: `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:x-AbCdEf`,
});

/** An Account API whose workspace's credential configuration names `roleArn`. */
function accountNaming(roleArn: string): AccountApi {
  const credential: Credential = {
    credentials_id: 'cred-1',
    aws_credentials: { sts_role: { role_arn: roleArn } },
  };
  return {
    accountId: 'acc-main',
    getWorkspace: async (id: number) => ({ workspace_id: id, credentials_id: 'cred-1' }) as Workspace,
    getCredential: async () => credential,
  } as unknown as AccountApi;
}

const grantFor = (roleArn: string, over: { keyArn?: string; settings?: typeof settings } = {}) =>
  databricksGrantFor({
    useCases: ['STORAGE'],
    reuseKeyForClusterVolumes: true,
    workspaceId: WS,
    settings: over.settings ?? settings,
    account: accountNaming(roleArn),
    ...(over.keyArn ? { keyArn: over.keyArn } : {}),
  });

describe('databricksGrantFor: the EBS principal', () => {
  it("gives the grant the key's account as the workspace's AWS account", async () => {
    // Prepare
    const role = `arn:aws:iam::${ACCOUNT}:role/databricks-cross-account`;
    // Act
    const grant = await grantFor(role, { keyArn: KEY_ARN });
    // Assess
    expect(grant).toMatchObject({ ebsRoleArn: role, awsAccountId: ACCOUNT });
  });

  it("falls back to the deployment's account without a key ARN", async () => {
    // Act
    const grant = await grantFor(`arn:aws:iam::${ACCOUNT}:role/x`);
    // Assess
    expect(grant.awsAccountId).toBe(ACCOUNT);
  });

  it('prefers the account of the key to the deployment account', async () => {
    // Prepare
    const otherKey = 'arn:aws:kms:us-east-1:444455556666:key/k';
    // Act
    const error = await grantFor(`arn:aws:iam::${ACCOUNT}:role/x`, { keyArn: otherKey }).catch((e) => e);
    const grant = await grantFor('arn:aws:iam::444455556666:role/x', { keyArn: otherKey });
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect(grant.awsAccountId).toBe('444455556666');
  });

  it('refuses a role of another AWS account, naming the role, the credential configuration and the workspace', async () => {
    // Prepare
    const foreign = 'arn:aws:iam::999988887777:role/databricks-cross-account';
    // Act
    const error = (await grantFor(foreign, { keyArn: KEY_ARN }).catch((e) => e)) as KeyPolicyRejected;
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect(error.name).toBe('KeyPolicyRejected');
    expect(error.message).toContain(`"${foreign}"`);
    expect(error.message).toContain('credential configuration cred-1');
    expect(error.message).toContain(String(WS));
    expect(error.message).toContain(`workspace's AWS account ${ACCOUNT}`);
  });

  it.each([
    ['a user', `arn:aws:iam::${ACCOUNT}:user/databricks`],
    ['an account root', `arn:aws:iam::${ACCOUNT}:root`],
    ['an assumed-role session', `arn:aws:sts::${ACCOUNT}:assumed-role/databricks/session`],
  ])('refuses %s with KeyPolicyRejected', async (_, principal) => {
    // Act
    const error = await grantFor(principal, { keyArn: KEY_ARN }).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect((error as Error).message).toContain('is not an IAM role ARN');
  });

  it('refuses when the workspace account cannot be known', async () => {
    // Prepare
    const unknown = { ...settings, deploymentAccountId: undefined };
    // Act
    const error = await grantFor(`arn:aws:iam::${ACCOUNT}:role/x`, { settings: unknown }).catch(
      (e: unknown) => e,
    );
    // Assess
    expect(error).toBeInstanceOf(KeyPolicyRejected);
    expect((error as Error).message).toContain('DEPLOYMENT_ACCOUNT_ID');
  });

  it('does not look at the role, nor set an account, when no EBS statement is needed', async () => {
    // Act
    const grant = await databricksGrantFor({
      useCases: ['STORAGE'],
      reuseKeyForClusterVolumes: false,
      workspaceId: WS,
      settings,
      account: accountNaming('arn:aws:iam::999988887777:user/x'),
      keyArn: KEY_ARN,
    });
    // Assess
    expect(grant.ebsRoleArn).toBeUndefined();
    expect(grant.awsAccountId).toBeUndefined();
  });
});
