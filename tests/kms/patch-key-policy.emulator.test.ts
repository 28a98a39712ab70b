import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { handler } from '../../functions/patch-key-policy.ts';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { clearCredentialsCache } from '../../lib/databricks/credentials.ts';
import { clearDatabricksClients } from '../../lib/databricks/index.ts';
import { DBFS_SID, EBS_SID, MANAGED_SERVICES_SID } from '../../lib/kms/policy.ts';
import type { RotationItem } from '../../lib/rotation.ts';
import { LocalKms } from '../../local/aws/kms.ts';
import { LocalSecretsManager, secretArn } from '../../local/aws/secrets-manager.ts';
import { type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { parseScenario } from '../../local/scenario.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const ACCOUNT = '111122223333';
const KEY_ID = '5678abcd-56ef-78ab-90cd-567890abcdef';
const KEY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/${KEY_ID}`;
const WS = 1234567890123456;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/databricks-cross-account-acme-prod`;
const ROOT = {
  Sid: 'Enable IAM User Permissions',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
  Action: 'kms:*',
  Resource: '*',
};

const context = {
  functionName: 'patch-key-policy',
  awsRequestId: randomUUID(),
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;
const invoke = (event: unknown) =>
  handler(JSON.parse(JSON.stringify(event)), context) as Promise<{
    changed: boolean;
    added: string[];
    merged: string[];
    bytes: number;
  }>;

let running: { emu: StartedEmulator; previousClock: Clock; previousEnv: NodeJS.ProcessEnv } | undefined;

afterEach(async () => {
  if (!running) return;
  await running.emu.close();
  setClock(running.previousClock);
  process.env = running.previousEnv;
  running = undefined;
});

/** The emulator with one workspace (and its default credential configuration) and a key with a bare policy. */
async function start(workspace: Record<string, unknown> = {}) {
  const scenario = parseScenario({
    aws: {
      accountId: ACCOUNT,
      keys: [{ keyId: KEY_ID, policy: { Version: '2012-10-17', Statement: [ROOT] } }],
    },
    databricks: {
      workspaces: [
        { workspace_id: WS, deployment_name: 'acme-prod', workspace_status: 'RUNNING', ...workspace },
      ],
    },
  });
  const emu = await startEmulator(scenario, { timeScale: 6000 });
  const aws = { accountId: scenario.aws.accountId, region: scenario.aws.region };
  const kms = new LocalKms(scenario.aws.keys, { ...aws, clock: emu.clock });
  const secretName = Object.keys(scenario.aws.secrets)[0] ?? 'databricks/cmk-rotator';
  running = { emu, previousClock: setClock(emu.clock), previousEnv: { ...process.env } };
  Object.assign(process.env, {
    DATABRICKS_ACCOUNT_ID: scenario.databricks.accountId,
    DATABRICKS_ACCOUNTS_HOST: emu.url,
    DATABRICKS_WORKSPACE_URL_TEMPLATE: emu.workspaceUrlTemplate,
    DATABRICKS_CREDENTIALS_SECRET_ARN: secretArn(secretName, aws.accountId, aws.region),
  });
  setAwsClients({ kms, secretsManager: new LocalSecretsManager(scenario.aws.secrets, aws) });
  clearDatabricksClients();
  clearCredentialsCache();
  return { emu, kms, databricksAccountId: scenario.databricks.accountId };
}

function item(useCases: RotationItem['useCases'], reuseKeyForClusterVolumes = true): RotationItem {
  return {
    executionId: 'exec-1',
    workspace: {
      workspaceId: WS,
      deploymentName: 'acme-prod',
      region: 'us-east-1',
      current: { managedServicesKeyConfigId: null, storageKeyConfigId: null },
      changes: {
        managedServices: useCases.includes('MANAGED_SERVICES'),
        storage: useCases.includes('STORAGE'),
      },
      storageAdded: useCases.includes('STORAGE'),
      steps: [],
    },
    target: { keyArn: KEY_ARN, keyId: KEY_ID, region: 'us-east-1' },
    useCases,
    reuseKeyForClusterVolumes,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    emergency: false,
    storageWaitSeconds: 1200,
  };
}

const statementsOf = (kms: LocalKms): Array<Record<string, unknown>> => {
  const policy = kms.keys()[0]?.policy as { Statement?: Array<Record<string, unknown>> } | undefined;
  return policy?.Statement ?? [];
};

describe('patch-key-policy step', () => {
  it('grants Databricks managed services once; a second run changes nothing', async () => {
    // Prepare
    const { emu, kms, databricksAccountId } = await start();
    // Act
    const first = await invoke(item(['MANAGED_SERVICES']));
    const second = await invoke(item(['MANAGED_SERVICES']));
    // Assess
    expect(first).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID], merged: [] });
    expect(second).toEqual({ changed: false, added: [], merged: [], bytes: first.bytes });
    expect(kms.calls().filter((c) => c.operation === 'PutKeyPolicy')).toHaveLength(1);
    expect(statementsOf(kms)).toEqual([
      ROOT,
      expect.objectContaining({
        Sid: MANAGED_SERVICES_SID,
        Condition: { StringEquals: { 'aws:PrincipalTag/DatabricksAccountId': [databricksAccountId] } },
      }),
    ]);
    // Managed services needs no cross-account role: Databricks is not called at all.
    expect(emu.callLog().filter((e) => !e.path.includes('/oidc/'))).toEqual([]);
  });

  it("adds the EBS statement for the workspace's cross-account role for a storage key", async () => {
    // Prepare
    const { emu, kms } = await start();
    // Act
    const first = await invoke(item(['MANAGED_SERVICES', 'STORAGE']));
    const second = await invoke(item(['MANAGED_SERVICES', 'STORAGE']));
    // Assess
    expect(first).toMatchObject({ changed: true, added: [MANAGED_SERVICES_SID, DBFS_SID, EBS_SID] });
    expect(second.changed).toBe(false);
    expect(statementsOf(kms).find((s) => s.Sid === EBS_SID)?.Principal).toEqual({ AWS: ROLE });
    const reads = emu
      .callLog()
      .filter((e) => !e.path.includes('/oidc/'))
      .map(
        (e) =>
          `${e.method} ${e.path.replace(/accounts\/[^/]+/, 'accounts/{id}').replace(/credentials\/.+$/, 'credentials/{id}')}`,
      );
    expect(reads).toContain(`GET /api/2.0/accounts/{id}/workspaces/${WS}`);
    expect(reads).toContain('GET /api/2.0/accounts/{id}/credentials/{id}');
    expect(emu.callLog().filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/'))).toEqual([]);
  });

  it('leaves out the EBS statement when the storage key does not encrypt cluster volumes', async () => {
    // Prepare
    const { kms } = await start();
    // Act
    const result = await invoke(item(['STORAGE'], false));
    // Assess
    expect(result.added).toEqual([DBFS_SID]);
    expect(statementsOf(kms).map((s) => s.Sid)).toEqual([ROOT.Sid, DBFS_SID]);
  });

  it('fails with KeyInvalidState and leaves the policy when the key is pending deletion', async () => {
    // Prepare
    const { kms } = await start();
    const pending = new LocalKms(
      kms.keys().map((k) => ({ ...k, state: 'PendingDeletion' })),
      { accountId: ACCOUNT, region: 'us-east-1' },
    );
    setAwsClients({ kms: pending });
    // Act
    const error = await invoke(item(['MANAGED_SERVICES'])).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ name: 'KeyInvalidState', message: expect.stringContaining(KEY_ARN) });
    expect(statementsOf(pending)).toEqual([ROOT]);
  });

  it('rejects an item without use cases naming the field', async () => {
    // Prepare
    await start();
    // Act
    const error = await invoke({ ...item(['MANAGED_SERVICES']), useCases: [] }).catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ name: 'InvalidInput', message: expect.stringContaining('useCases') });
  });
});
