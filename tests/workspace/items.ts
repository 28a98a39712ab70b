import type { RotationItem } from '../../lib/rotation.ts';
import type { CheckItem, UpdateItem } from '../../lib/workspace/schemas.ts';
import { AWS_ACCOUNT, arnOf, NEW_KEY, OLD_KEY } from '../plan/fakes.ts';

export const WS = 1234567890123456;
export const DATABRICKS_ACCOUNT = 'acc-0d6c9a2e';

/** The Databricks control-plane statement as DESIGN §1 describes it. */
export function policyGranting(
  useCases: Array<'MANAGED_SERVICES' | 'STORAGE'> = ['MANAGED_SERVICES'],
): string {
  const principal = { AWS: 'arn:aws:iam::414351767826:root' };
  const condition = { StringEquals: { 'aws:PrincipalTag/DatabricksAccountId': [DATABRICKS_ACCOUNT] } };
  const statements: unknown[] = [
    {
      Sid: 'Enable IAM User Permissions',
      Effect: 'Allow',
      Principal: { AWS: `arn:aws:iam::${AWS_ACCOUNT}:root` },
      Action: 'kms:*',
      Resource: '*',
    },
  ];
  if (useCases.includes('MANAGED_SERVICES')) {
    statements.push({
      Sid: 'Allow Databricks to use KMS key for managed services in the control plane',
      Effect: 'Allow',
      Principal: principal,
      Action: ['kms:Encrypt', 'kms:Decrypt'],
      Resource: '*',
      Condition: condition,
    });
  }
  if (useCases.includes('STORAGE')) {
    statements.push({
      Sid: 'Allow Databricks to use KMS key for DBFS',
      Effect: 'Allow',
      Principal: principal,
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
      Resource: '*',
      Condition: condition,
    });
  }
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

export function rotationItem(
  changes: { managedServices: boolean; storage: boolean } = { managedServices: true, storage: false },
  overrides: Partial<RotationItem> = {},
): RotationItem {
  return {
    executionId: 'manual-1',
    workspace: {
      workspaceId: WS,
      workspaceName: 'prod',
      deploymentName: 'acme-prod',
      region: 'us-east-1',
      current: {
        managedServicesKeyConfigId: 'cfg-old',
        storageKeyConfigId: null,
        managedServicesKeyArn: arnOf(OLD_KEY),
        storageKeyArn: null,
      },
      changes,
      storageAdded: changes.storage,
      steps: [],
    },
    target: {
      keyArn: arnOf(NEW_KEY),
      keyId: NEW_KEY,
      region: 'us-east-1',
      keyAlias: 'alias/databricks-managed-services',
    },
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    emergency: false,
    storageWaitSeconds: 0,
    ...overrides,
  };
}

export function updateItem(keyConfigId = 'cfg-new', item: RotationItem = rotationItem()): UpdateItem {
  const useCases = [
    ...(item.workspace.changes.managedServices ? (['MANAGED_SERVICES'] as const) : []),
    ...(item.workspace.changes.storage ? (['STORAGE'] as const) : []),
  ];
  return {
    ...item,
    keyConfig: { customerManagedKeyId: keyConfigId, reused: false, useCases: [...useCases] },
  };
}

export function checkItem(
  update: Partial<CheckItem['update']> = {},
  previous?: CheckItem['workspaceCheck'],
  base: UpdateItem = updateItem(),
): CheckItem {
  return {
    ...base,
    update: {
      patched: true,
      fields: ['managed_services_customer_managed_key_id'],
      patchedAt: 1_000_000,
      deadline: 1_000_000 + 60 * 60_000,
      ...update,
    },
    ...(previous ? { workspaceCheck: previous } : {}),
  };
}
