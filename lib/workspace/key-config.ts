import type { AccountApi } from '../databricks/api.ts';
import type { CreateCustomerManagedKeyRequest, CustomerManagedKey, KeyUseCase } from '../databricks/types.ts';
import { InvalidInput } from '../errors.ts';
import type { PlannedWorkspace, RotationItem } from '../rotation.ts';
import type { KeyConfigResult } from './schemas.ts';

/** The use cases this workspace's rotation changes (the use-case set of the configuration it needs). */
export function changedUseCases(workspace: PlannedWorkspace): KeyUseCase[] {
  const out: KeyUseCase[] = [];
  if (workspace.changes.managedServices) out.push('MANAGED_SERVICES');
  if (workspace.changes.storage) out.push('STORAGE');
  return out;
}

/**
 * An existing configuration this workspace can use: same key ARN, the same use-case set, and, when it
 * covers STORAGE, the same `reuse_key_for_cluster_volumes` (Databricks' default is true). The oldest match
 * wins so repeated runs converge on one configuration.
 */
export function findReusableKeyConfig(
  configs: readonly CustomerManagedKey[],
  wanted: { keyArn: string; useCases: readonly KeyUseCase[]; reuseKeyForClusterVolumes: boolean },
): CustomerManagedKey | undefined {
  const wantedSet = [...new Set(wanted.useCases)].sort().join(',');
  return configs
    .filter((c) => c.aws_key_info?.key_arn === wanted.keyArn)
    .filter((c) => [...new Set(c.use_cases)].sort().join(',') === wantedSet)
    .filter(
      (c) =>
        !wanted.useCases.includes('STORAGE') ||
        (c.aws_key_info?.reuse_key_for_cluster_volumes ?? true) === wanted.reuseKeyForClusterVolumes,
    )
    .sort((a, b) => (a.creation_time ?? 0) - (b.creation_time ?? 0))[0];
}

/**
 * Registers (or reuses) the key configuration the workspace will point at. Safe to run twice: a second run
 * finds the configuration the first created.
 */
export async function registerKeyConfig(account: AccountApi, item: RotationItem): Promise<KeyConfigResult> {
  const useCases = changedUseCases(item.workspace);
  if (useCases.length === 0) {
    throw new InvalidInput(
      `workspace ${item.workspace.workspaceId} has nothing to change (changes.managedServices and changes.storage are false); it should not be in a rotation`,
      { details: { field: 'workspace.changes' } },
    );
  }
  const wanted = {
    keyArn: item.target.keyArn,
    useCases,
    reuseKeyForClusterVolumes: item.reuseKeyForClusterVolumes,
  };
  const existing = findReusableKeyConfig(await account.listKeyConfigs(), wanted);
  if (existing) return { customerManagedKeyId: existing.customer_managed_key_id, reused: true, useCases };
  const request: CreateCustomerManagedKeyRequest = {
    use_cases: useCases,
    aws_key_info: {
      key_arn: item.target.keyArn,
      ...(item.target.keyAlias ? { key_alias: item.target.keyAlias } : {}),
      // Only meaningful with STORAGE (it makes the key encrypt cluster EBS volumes too).
      ...(useCases.includes('STORAGE')
        ? { reuse_key_for_cluster_volumes: item.reuseKeyForClusterVolumes }
        : {}),
    },
  };
  const created = await account.createKeyConfig(request);
  return { customerManagedKeyId: created.customer_managed_key_id, reused: false, useCases };
}
