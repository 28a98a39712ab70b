import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { handler as checkWorkspace } from '../../functions/check-workspace.ts';
import { handler as plan } from '../../functions/plan.ts';
import { handler as registerKeyConfig } from '../../functions/register-key-config.ts';
import { handler as updateWorkspace } from '../../functions/update-workspace.ts';
import { handler as verify } from '../../functions/verify.ts';
import { setAwsClients } from '../../lib/aws/clients.ts';
import { type Clock, setClock } from '../../lib/clock.ts';
import { clearCredentialsCache } from '../../lib/databricks/credentials.ts';
import { clearDatabricksClients } from '../../lib/databricks/index.ts';
import type { Plan, RotationItem } from '../../lib/rotation.ts';
import type {
  CheckItem,
  KeyConfigResult,
  WorkspaceCheckResult,
  WorkspaceUpdateResult,
} from '../../lib/workspace/schemas.ts';
import { startLocalLockTable } from '../../local/aws/dynamodb.ts';
import { LocalKms } from '../../local/aws/kms.ts';
import { LocalSecretsManager, secretArn } from '../../local/aws/secrets-manager.ts';
import { type StartedEmulator, startEmulator } from '../../local/emulator/index.ts';
import { parseScenario } from '../../local/scenario.ts';
import { arnOf, NEW_KEY, OLD_KEY, WATCHED_ALIAS } from '../plan/fakes.ts';
import { policyGranting, WS } from './items.ts';

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

const context = {
  functionName: 'test',
  awsRequestId: randomUUID(),
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;
const invoke = <T>(fn: (event: unknown, ctx: Context) => Promise<unknown>, event: unknown) =>
  fn(JSON.parse(JSON.stringify(event)), context) as Promise<T>;
const EXECUTION_ARN = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key-local:test-1';
/** The plan Task's input as the state machine builds it: the execution input and the execution's ARN. */
const planStep = (input: unknown, executionArn = EXECUTION_ARN) => ({ input, executionArn });

let running: { emu: StartedEmulator; previousClock: Clock; previousEnv: NodeJS.ProcessEnv } | undefined;

afterEach(async () => {
  if (!running) return;
  await running.emu.close();
  setClock(running.previousClock);
  process.env = running.previousEnv;
  running = undefined;
});

interface Options {
  network?: 'databricks-managed' | 'customer-managed';
  faults?: unknown[];
  newKeyPolicy?: string;
  oldKeyPolicy?: string;
  storageKeyConfigId?: string;
}

/** One compute-free workspace on the old key, the watched alias on the new key, everything over HTTP. */
async function start(options: Options = {}) {
  const scenario = parseScenario({
    aws: {
      keys: [
        {
          keyId: OLD_KEY,
          aliases: ['alias/databricks-old'],
          policy: JSON.parse(options.oldKeyPolicy ?? policyGranting(['MANAGED_SERVICES'])),
        },
        {
          keyId: NEW_KEY,
          aliases: [WATCHED_ALIAS],
          policy: JSON.parse(options.newKeyPolicy ?? policyGranting(['MANAGED_SERVICES', 'STORAGE'])),
        },
      ],
    },
    databricks: {
      keyConfigs: [
        {
          customer_managed_key_id: 'cfg-old',
          use_cases: ['MANAGED_SERVICES', 'STORAGE'],
          aws_key_info: { key_arn: arnOf(OLD_KEY), key_region: 'us-east-1' },
          creation_time: 0,
        },
      ],
      workspaces: [
        {
          workspace_id: WS,
          workspace_name: 'prod',
          deployment_name: 'acme-prod',
          aws_region: 'us-east-1',
          workspace_status: 'RUNNING',
          network: options.network ?? 'databricks-managed',
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: options.storageKeyConfigId ?? null,
        },
      ],
      faults: options.faults ?? [],
    },
    settings: { watchedAlias: WATCHED_ALIAS, workspaceIds: [WS] },
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
    DATABRICKS_POLICY_ACCOUNT_IDS: 'acc-0d6c9a2e',
    WATCHED_ALIAS,
    WORKSPACE_IDS: String(WS),
  });
  setAwsClients({ kms, secretsManager: new LocalSecretsManager(scenario.aws.secrets, aws) });
  clearDatabricksClients();
  clearCredentialsCache();
  const writes = () =>
    emu.callLog().filter((e) => e.method !== 'GET' && !e.path.includes('/oidc/') && e.status < 400);
  return { emu, kms, writes };
}

/** The lock table in dynalite, as LOCK_TABLE of the steps (the test's `start` restores the environment). */
async function useLockTable() {
  const locks = await startLocalLockTable();
  setAwsClients({ dynamodb: locks.client });
  process.env.LOCK_TABLE = locks.table;
  return locks;
}

function itemOf(p: Plan): RotationItem {
  const workspace = p.workspaces[0];
  if (!workspace || !p.target) throw new Error('plan has no workspace');
  return {
    executionId: 'test-1',
    workspace,
    target: p.target,
    useCases: p.useCases,
    reuseKeyForClusterVolumes: p.reuseKeyForClusterVolumes,
    activeRuns: p.activeRuns,
    drainTimeoutMinutes: p.drainTimeoutMinutes,
    emergency: p.emergency,
    storageWaitSeconds: p.storageWaitSeconds,
  };
}

/** Polls like the state machine: Wait 30 s → Check → Choice, at most `maxChecks` times. */
async function pollUntilDone(
  emu: StartedEmulator,
  item: CheckItem,
  maxChecks = 200,
): Promise<WorkspaceCheckResult> {
  let current = item;
  for (let i = 0; i < maxChecks; i++) {
    emu.clock.advance(30);
    const result = await invoke<WorkspaceCheckResult>(checkWorkspace, current);
    if (result.status === 'RUNNING') return result;
    current = { ...current, workspaceCheck: result };
  }
  throw new Error('the workspace never came back');
}

async function rotateUpToUpdate(input: Record<string, unknown>) {
  const p = await invoke<Plan>(plan, planStep(input));
  const item = itemOf(p);
  const keyConfig = await invoke<KeyConfigResult>(registerKeyConfig, item);
  const update = await invoke<WorkspaceUpdateResult>(updateWorkspace, { ...item, keyConfig });
  return { plan: p, item, keyConfig, update, checkItem: { ...item, keyConfig, update } as CheckItem };
}

const workspaceOf = (emu: StartedEmulator) =>
  (emu.state().workspaces as Array<Record<string, unknown>>).find((w) => w.workspace_id === WS) as Record<
    string,
    unknown
  >;

describe('Steps against the Databricks emulator', () => {
  it('registers, updates and sees the workspace RUNNING on the new key', async () => {
    // Prepare
    const { emu, writes } = await start();
    // Act
    const { keyConfig, update, checkItem } = await rotateUpToUpdate({
      workspaceIds: [WS],
      keyAlias: WATCHED_ALIAS,
    });
    const done = await pollUntilDone(emu, checkItem);
    // Assess
    expect(keyConfig.reused).toBe(false);
    expect(update).toMatchObject({ patched: true, fields: ['managed_services_customer_managed_key_id'] });
    expect(done).toMatchObject({ status: 'RUNNING', sawProvisioning: true });
    expect(workspaceOf(emu).managed_services_customer_managed_key_id).toBe(keyConfig.customerManagedKeyId);
    expect(writes().map((e) => `${e.method} ${e.path.split('?')[0]}`)).toEqual([
      'POST /api/2.0/accounts/0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e/customer-managed-keys',
      `PATCH /api/2.0/accounts/0d6c9a2e-4b1f-4c3a-9e7d-2f5a8b6c1d3e/workspaces/${WS}`,
    ]);
  });

  it('registers no second configuration and sends no second PATCH when the steps run again', async () => {
    const { emu, writes } = await start();
    const first = await rotateUpToUpdate({ workspaceIds: [WS], keyAlias: WATCHED_ALIAS });
    await pollUntilDone(emu, first.checkItem);
    const before = writes().length;

    const keyConfig = await invoke<KeyConfigResult>(registerKeyConfig, first.item);
    const update = await invoke<WorkspaceUpdateResult>(updateWorkspace, { ...first.item, keyConfig });

    expect(keyConfig).toEqual({ ...first.keyConfig, reused: true });
    expect(update.patched).toBe(false);
    expect(writes()).toHaveLength(before);
  });

  it('sees a customer-managed VPC workspace through an update that never shows PROVISIONING', async () => {
    const { emu } = await start({ network: 'customer-managed' });
    const { keyConfig, checkItem } = await rotateUpToUpdate({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY) });
    const done = await pollUntilDone(emu, checkItem);
    expect(done).toMatchObject({ status: 'RUNNING', sawProvisioning: false });
    expect(workspaceOf(emu).managed_services_customer_managed_key_id).toBe(keyConfig.customerManagedKeyId);
  });

  it('detects a silent revert as WorkspaceUpdateReverted', async () => {
    const { emu } = await start({ faults: [{ kind: 'silentRevert', workspace_id: WS }] });
    const { checkItem } = await rotateUpToUpdate({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY) });
    const error = await pollUntilDone(emu, checkItem).catch((e: Error) => e);
    expect((error as Error).name).toBe('WorkspaceUpdateReverted');
    expect(workspaceOf(emu).managed_services_customer_managed_key_id).toBe('cfg-old');
  });

  it('does not claim a silent revert of a customer-managed VPC workspace at the deadline (it may still be updating)', async () => {
    const { emu } = await start({
      network: 'customer-managed',
      faults: [{ kind: 'silentRevert', workspace_id: WS }],
    });
    const { checkItem } = await rotateUpToUpdate({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY) });
    const error = await pollUntilDone(emu, checkItem).catch((e: Error) => e);
    expect((error as Error).name).toBe('WorkspaceUpdateTimedOut');
  });

  it('fails with WorkspaceUpdateFailed when the workspace ends FAILED', async () => {
    const { emu } = await start({
      faults: [{ kind: 'failUpdate', workspace_id: WS, message: 'key not usable' }],
    });
    const { checkItem } = await rotateUpToUpdate({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY) });
    const error = await pollUntilDone(emu, checkItem).catch((e: Error) => e);
    expect((error as Error).name).toBe('WorkspaceUpdateFailed');
    expect((error as Error).message).toContain('key not usable');
  });

  it('refuses a second storage key in the plan and touches nothing', async () => {
    const { writes, kms } = await start({ storageKeyConfigId: 'cfg-old' });
    const error = await invoke(
      plan,
      planStep({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY), useCases: ['MANAGED_SERVICES', 'STORAGE'] }),
    ).catch((e: Error) => e);
    expect((error as Error).name).toBe('StorageKeyAlreadySet');
    expect(writes()).toEqual([]);
    expect(kms.calls().filter((c) => c.operation !== 'DescribeKey')).toEqual([]);
  });

  it('rejects bad manual input naming the field, before any Databricks or KMS call', async () => {
    const { emu, kms } = await start();
    const error = await invoke(plan, planStep({ workspaceIds: ['prod'], keyArn: arnOf(NEW_KEY) })).catch(
      (e: Error) => e,
    );
    expect((error as Error).name).toBe('InvalidInput');
    expect((error as Error).message).toContain('workspaceIds[0]');
    expect(emu.callLog()).toEqual([]);
    expect(kms.calls()).toEqual([]);
  });

  it('sends no PATCH when the key policy lost the Databricks grant', async () => {
    const { writes } = await start({ newKeyPolicy: policyGranting([]) });
    const p = await invoke<Plan>(plan, planStep({ workspaceIds: [WS], keyArn: arnOf(NEW_KEY) }));
    const item = itemOf(p);
    const keyConfig = await invoke<KeyConfigResult>(registerKeyConfig, item);
    const error = await invoke(updateWorkspace, { ...item, keyConfig }).catch((e: Error) => e);
    expect((error as Error).name).toBe('KeyPolicyMissingDatabricksGrant');
    expect(writes().filter((e) => e.method === 'PATCH')).toEqual([]);
  });

  it('verifies a rotated key without touching the workspace, re-patching a drifted policy', async () => {
    const { writes, kms } = await start({ oldKeyPolicy: policyGranting([]) });
    const event = {
      version: '0',
      id: 'rotation-1',
      'detail-type': 'KMS CMK Rotation',
      source: 'aws.kms',
      account: '111122223333',
      region: 'us-east-1',
      resources: [arnOf(OLD_KEY)],
      detail: { 'key-id': OLD_KEY },
    };
    // a KMS rotation only verifies; the deployment asks for a drifted policy to be repaired
    process.env.WATCHED_ALIAS = 'alias/databricks-old';
    process.env.REPAIR_POLICY_ON_ROTATION = 'true';
    const locks = await useLockTable();
    const p = await invoke<Plan>(plan, planStep(event));
    const result = await invoke<{ workspaces: Array<{ workspaceId: number; policyRepatched: boolean }> }>(
      verify,
      p,
    );
    expect(p.mode).toBe('verify');
    expect(result.workspaces).toEqual([expect.objectContaining({ workspaceId: WS, policyRepatched: true })]);
    expect(kms.calls().map((c) => c.operation)).toContain('PutKeyPolicy');
    expect(writes()).toEqual([]);
    // A second delivery of the same event, to another execution, plans nothing.
    const duplicate = await invoke<Plan>(plan, planStep(event, `${EXECUTION_ARN}-2`));
    expect(duplicate).toMatchObject({ mode: 'noop', workspaces: [] });
    expect(duplicate.reason).toBe(
      `duplicate delivery of event rotation-1, already handled by execution ${EXECUTION_ARN}`,
    );
    await locks.close();
  });

  it('refuses an event when LOCK_TABLE is not set, before any Databricks or KMS call', async () => {
    const { emu, kms } = await start();
    const event = {
      id: 'rotation-2',
      'detail-type': 'KMS CMK Rotation',
      source: 'aws.kms',
      account: '111122223333',
      region: 'us-east-1',
      resources: [arnOf(OLD_KEY)],
      detail: { 'key-id': OLD_KEY },
    };
    const error = await invoke(plan, planStep(event)).catch((e: Error) => e);
    expect((error as Error).name).toBe('InvalidSettings');
    expect((error as Error).message).toContain('setting LOCK_TABLE is not set');
    expect(emu.callLog()).toEqual([]);
    expect(kms.calls()).toEqual([]);
  });
});
