import type { AccountApi } from '../databricks/api.ts';
import type { KeyUseCase } from '../databricks/types.ts';
import { RotatorError } from '../errors.ts';
import type { Settings } from '../settings.ts';
import { KeyPolicyRejected } from './errors.ts';
import { assertEbsPrincipal, type DatabricksGrant } from './policy.ts';

/**
 * The workspace's cross-account IAM role is needed for the EBS statement of a storage key that also
 * encrypts cluster volumes, but its credential configuration does not name one.
 */
export class CrossAccountRoleUnknown extends RotatorError {}

/**
 * The Databricks grant a workspace needs for these use cases; looks up the workspace's cross-account role
 * (credentials_id → getCredential → aws_credentials.sts_role.role_arn) only when STORAGE and
 * reuseKeyForClusterVolumes, because only the EBS statement names it.
 *
 * That role must be an IAM role of the workspace's own AWS account. The Account API does not say which AWS
 * account a workspace runs in, and the role's own ARN cannot vouch for itself (a credential configuration
 * pointed at a role of another account would), so the account is the key's: the account of `keyArn`, or
 * without it the deployment's account (`settings.deploymentAccountId`, the account whose keys this
 * deployment acts on). Databricks' documented EBS statement names the cross-account role of the account
 * that owns the key, so the key policy never grants a role of another account.
 * @throws CrossAccountRoleUnknown when the workspace's credential configuration names no role.
 * @throws KeyPolicyRejected when the role is not an IAM role of that account, or the account is unknown.
 */
export async function databricksGrantFor(args: {
  useCases: KeyUseCase[];
  reuseKeyForClusterVolumes: boolean;
  workspaceId: number;
  settings: Settings;
  account: AccountApi;
  /** The key whose policy the grant is for: its account is the workspace's AWS account. */
  keyArn?: string;
}): Promise<DatabricksGrant> {
  const { useCases, reuseKeyForClusterVolumes, workspaceId, settings, account, keyArn } = args;
  const grant: DatabricksGrant = {
    useCases: [...useCases],
    databricksPrincipalArn: settings.databricksPrincipalArn,
    accountIds: [...settings.policyAccountIds],
    reuseKeyForClusterVolumes,
  };
  if (!useCases.includes('STORAGE') || !reuseKeyForClusterVolumes) return grant;
  const workspace = await account.getWorkspace(workspaceId);
  const credentialsId = workspace.credentials_id;
  if (!credentialsId) {
    throw new CrossAccountRoleUnknown(
      `workspace ${workspaceId} has no credentials_id, so its cross-account IAM role (the EBS statement's principal) is unknown; check the workspace's credential configuration, or register the key with reuseKeyForClusterVolumes: false`,
      { details: { workspaceId } },
    );
  }
  const credential = await account.getCredential(credentialsId);
  const roleArn = credential.aws_credentials?.sts_role?.role_arn;
  if (!roleArn) {
    throw new CrossAccountRoleUnknown(
      `credential configuration ${credentialsId} of workspace ${workspaceId} has no aws_credentials.sts_role.role_arn, so the EBS statement's principal is unknown; fix the credential configuration, or register the key with reuseKeyForClusterVolumes: false`,
      { details: { workspaceId, credentialsId } },
    );
  }
  const awsAccountId = accountOf(keyArn) ?? settings.deploymentAccountId;
  if (awsAccountId === undefined) {
    throw new KeyPolicyRejected(
      `the AWS account of workspace ${workspaceId} is unknown (no key ARN, and DEPLOYMENT_ACCOUNT_ID is not set), so its cross-account role "${roleArn}" cannot be checked before it is granted the key for EBS; set DEPLOYMENT_ACCOUNT_ID`,
      { details: { workspaceId, credentialsId, field: 'ebsRoleArn', principal: roleArn } },
    );
  }
  assertEbsPrincipal(
    roleArn,
    awsAccountId,
    `credential configuration ${credentialsId} of workspace ${workspaceId}`,
  );
  return { ...grant, ebsRoleArn: roleArn, awsAccountId };
}

/** The account field of an ARN (`arn:aws:kms:us-east-1:111122223333:key/…` → `111122223333`). */
function accountOf(arn: string | undefined): string | undefined {
  const account = arn?.split(':')[4];
  return arn?.startsWith('arn:') && account && /^\d{12}$/.test(account) ? account : undefined;
}
