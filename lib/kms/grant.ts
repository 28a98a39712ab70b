import type { AccountApi } from '../databricks/api.ts';
import type { KeyUseCase } from '../databricks/types.ts';
import { RotatorError } from '../errors.ts';
import type { Settings } from '../settings.ts';
import type { DatabricksGrant } from './policy.ts';

/**
 * The workspace's cross-account IAM role is needed for the EBS statement of a storage key that also
 * encrypts cluster volumes, but its credential configuration does not name one.
 */
export class CrossAccountRoleUnknown extends RotatorError {}

/**
 * The Databricks grant a workspace needs for these use cases; looks up the workspace's cross-account role
 * (credentials_id → getCredential → aws_credentials.sts_role.role_arn) only when STORAGE and
 * reuseKeyForClusterVolumes, because only the EBS statement names it.
 */
export async function databricksGrantFor(args: {
  useCases: KeyUseCase[];
  reuseKeyForClusterVolumes: boolean;
  workspaceId: number;
  settings: Settings;
  account: AccountApi;
}): Promise<DatabricksGrant> {
  const { useCases, reuseKeyForClusterVolumes, workspaceId, settings, account } = args;
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
  return { ...grant, ebsRoleArn: roleArn };
}
