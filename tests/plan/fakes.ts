import { DisabledException, NotFoundException } from '@aws-sdk/client-kms';
import type { AccountApi } from '../../lib/databricks/api.ts';
import type {
  CreateCustomerManagedKeyRequest,
  Credential,
  CustomerManagedKey,
  Workspace,
  WorkspaceKeyChange,
} from '../../lib/databricks/types.ts';
import { loadSettings, type Settings } from '../../lib/settings.ts';

/** In-memory test doubles for the plan/workspace/verify unit tests (the emulator tests use the real client). */

export const AWS_ACCOUNT = '111122223333';
export const REGION = 'us-east-1';
export const WATCHED_ALIAS = 'alias/databricks-managed-services';
export const arnOf = (keyId: string, region = REGION) => `arn:aws:kms:${region}:${AWS_ACCOUNT}:key/${keyId}`;

/** The key ids the fixture events name. */
export const OLD_KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
export const NEW_KEY = '5678abcd-56ef-78ab-90cd-567890abcdef';
export const IMPORTED_KEY = '0987dcba-09fe-87dc-65ba-ab0987654321';

export interface FakeKey {
  keyId: string;
  region?: string;
  state?: string;
  keySpec?: string;
  keyUsage?: string;
  aliases?: string[];
  policy?: string;
}

/** A KMS stand-in answering DescribeKey/GetKeyPolicy/PutKeyPolicy with the SDK's own exception classes. */
export class FakeKms {
  readonly calls: Array<{ operation: string; input: Record<string, unknown> }> = [];
  constructor(readonly keys: FakeKey[]) {}

  async send(command: { constructor: { name: string }; input: Record<string, unknown> }): Promise<unknown> {
    const operation = command.constructor.name.replace(/Command$/, '');
    this.calls.push({ operation, input: command.input });
    const key = this.find(String(command.input.KeyId));
    const arn = arnOf(key.keyId, key.region);
    switch (operation) {
      case 'DescribeKey':
        return {
          KeyMetadata: {
            KeyId: key.keyId,
            Arn: arn,
            KeyState: key.state ?? 'Enabled',
            Enabled: (key.state ?? 'Enabled') === 'Enabled',
            KeySpec: key.keySpec ?? 'SYMMETRIC_DEFAULT',
            KeyUsage: key.keyUsage ?? 'ENCRYPT_DECRYPT',
            Origin: 'AWS_KMS',
          },
        };
      case 'GetKeyPolicy':
        return { Policy: key.policy ?? defaultPolicy(), PolicyName: 'default' };
      case 'PutKeyPolicy':
        if (key.state === 'Disabled')
          throw new DisabledException({ message: `${arn} is disabled`, $metadata: {} });
        key.policy = String(command.input.Policy);
        return {};
      default:
        throw new Error(`FakeKms does not support ${operation}`);
    }
  }

  /** Operations other than reads. */
  writes(): string[] {
    return this.calls
      .map((c) => c.operation)
      .filter((o) => !['DescribeKey', 'GetKeyPolicy', 'ListAliases'].includes(o));
  }

  private find(ref: string): FakeKey {
    const alias = ref.includes(':alias/') ? `alias/${ref.split(':alias/')[1]}` : ref;
    const key = this.keys.find(
      (k) => k.keyId === ref || arnOf(k.keyId, k.region) === ref || (k.aliases ?? []).includes(alias),
    );
    if (!key) throw new NotFoundException({ message: `Key '${ref}' does not exist`, $metadata: {} });
    return key;
  }
}

export function defaultPolicy(): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${AWS_ACCOUNT}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  });
}

/** A Databricks Account API stand-in that records every call. */
export class FakeAccount implements AccountApi {
  readonly accountId = 'acc-0d6c9a2e';
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  private next = 1;
  constructor(
    public workspaces: Workspace[],
    public keyConfigs: CustomerManagedKey[],
    public credentials: Credential[] = [],
  ) {}

  async listKeyConfigs() {
    this.calls.push({ method: 'listKeyConfigs', args: [] });
    return structuredClone(this.keyConfigs);
  }
  async getKeyConfig(id: string) {
    this.calls.push({ method: 'getKeyConfig', args: [id] });
    const found = this.keyConfigs.find((c) => c.customer_managed_key_id === id);
    if (!found) throw Object.assign(new Error(`key configuration ${id} not found`), { status: 404 });
    return structuredClone(found);
  }
  async createKeyConfig(request: CreateCustomerManagedKeyRequest) {
    this.calls.push({ method: 'createKeyConfig', args: [request] });
    const created: CustomerManagedKey = {
      customer_managed_key_id: `cmk-new-${this.next++}`,
      account_id: this.accountId,
      creation_time: Date.now(),
      use_cases: request.use_cases,
      aws_key_info: { ...request.aws_key_info, key_region: request.aws_key_info.key_arn.split(':')[3] },
    };
    this.keyConfigs.push(created);
    return structuredClone(created);
  }
  async deleteKeyConfig(id: string) {
    this.calls.push({ method: 'deleteKeyConfig', args: [id] });
  }
  async listWorkspaces() {
    this.calls.push({ method: 'listWorkspaces', args: [] });
    return structuredClone(this.workspaces);
  }
  async getWorkspace(id: number) {
    this.calls.push({ method: 'getWorkspace', args: [id] });
    const found = this.workspaces.find((w) => w.workspace_id === id);
    if (!found) throw Object.assign(new Error(`workspace ${id} not found`), { status: 404 });
    return structuredClone(found);
  }
  async updateWorkspaceKeys(id: number, change: WorkspaceKeyChange) {
    this.calls.push({ method: 'updateWorkspaceKeys', args: [id, change] });
    const found = this.workspaces.find((w) => w.workspace_id === id);
    if (!found) throw Object.assign(new Error(`workspace ${id} not found`), { status: 404 });
    Object.assign(found, change);
    return structuredClone(found);
  }
  async getCredential(id: string) {
    this.calls.push({ method: 'getCredential', args: [id] });
    const found = this.credentials.find((c) => c.credentials_id === id);
    if (!found) throw Object.assign(new Error(`credential ${id} not found`), { status: 404 });
    return structuredClone(found);
  }

  /** Calls that change something. */
  writes(): string[] {
    return this.calls
      .map((c) => c.method)
      .filter((m) => ['createKeyConfig', 'deleteKeyConfig', 'updateWorkspaceKeys'].includes(m));
  }
}

export function workspace(overrides: Partial<Workspace> & { workspace_id: number }): Workspace {
  return {
    workspace_name: `ws-${overrides.workspace_id}`,
    deployment_name: `dep-${overrides.workspace_id}`,
    aws_region: REGION,
    workspace_status: 'RUNNING',
    managed_services_customer_managed_key_id: null,
    storage_customer_managed_key_id: null,
    ...overrides,
  };
}

export function keyConfig(
  id: string,
  keyId: string,
  useCases: CustomerManagedKey['use_cases'],
  extra: Partial<CustomerManagedKey> & { key_alias?: string; reuse?: boolean } = {},
): CustomerManagedKey {
  const { key_alias, reuse, ...rest } = extra;
  return {
    customer_managed_key_id: id,
    use_cases: useCases,
    creation_time: 0,
    aws_key_info: {
      key_arn: arnOf(keyId),
      key_region: REGION,
      ...(key_alias ? { key_alias } : {}),
      ...(reuse !== undefined ? { reuse_key_for_cluster_volumes: reuse } : {}),
    },
    ...rest,
  };
}

export function settingsWith(env: Record<string, string> = {}): Settings {
  return loadSettings({
    DATABRICKS_ACCOUNT_ID: 'acc-0d6c9a2e',
    DATABRICKS_CREDENTIALS_SECRET_ARN: `arn:aws:secretsmanager:${REGION}:${AWS_ACCOUNT}:secret:databricks/cmk-rotator-AbCdEf`,
    WATCHED_ALIAS: WATCHED_ALIAS,
    ...env,
  });
}
