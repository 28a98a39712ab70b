import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planRotation, rotationPlan } from '../../lib/plan/plan.ts';
import type { Settings } from '../../lib/settings.ts';
import {
  arnOf,
  FakeAccount,
  type FakeKey,
  FakeKms,
  IMPORTED_KEY,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  WATCHED_ALIAS,
  workspace,
} from './fakes.ts';

/**
 * What a plan says and refuses, found by mutation testing (`npm run mutation`): the steps a dry run shows,
 * the reasons operators read, which workspaces an event moves, and the retention rule at its edges.
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

const WS = 1234567890123456;
const WS2 = 2345678901234567;
const WS3 = 3456789012345678;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-25T16:45:00Z');
const OLD_ARN = arnOf(OLD_KEY);
const NEW_ARN = arnOf(NEW_KEY);
const OTHER_ALIAS = 'alias/other';

/** The event fixtures' ids, as the plan's trigger carries them. */
const EVENT_IDS = {
  rotation: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  deletion: 'e9ce3425-7d22-412a-a699-e7a5fc3fbc9a',
  disable: '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01',
  schedule: '7c2b9d3e-1f4a-4b5c-8d6e-9f0a1b2c3d4e',
  alias: '2d4f6a8c-0e1b-4c3d-9e5f-7a9b1c3d5e7f',
};

const STOP =
  'stop all-purpose clusters, SQL warehouses, pipelines and pool idle instances (counted when stopping)';
const WAIT_RUNNING = 'wait until the workspace is RUNNING and shows the new key configuration';
const RESTART = 'restart what was stopped and unpause the paused schedules';

interface World {
  aliasOn?: string | null;
  keys?: FakeKey[];
  workspaces?: Parameters<typeof workspace>[0][];
  configs?: ReturnType<typeof keyConfig>[];
  env?: Record<string, string>;
  settings?: Partial<Settings>;
  kms?: (kms: FakeKms) => FakeKms;
  /** The old key's KMS state now (Enabled unless said). */
  oldState?: string;
  /** Plan as "Re-check the key" does, after the grace delay. */
  recheck?: boolean;
}

/** Workspaces and configurations as given; the watched alias on `aliasOn` (OLD_KEY unless said). */
function world(options: World = {}) {
  const aliasOn = options.aliasOn === undefined ? OLD_KEY : options.aliasOn;
  const keys = options.keys ?? [
    {
      keyId: OLD_KEY,
      aliases: aliasOn === OLD_KEY ? [WATCHED_ALIAS] : [],
      ...(options.oldState ? { state: options.oldState } : {}),
    },
    { keyId: NEW_KEY, aliases: aliasOn === NEW_KEY ? [WATCHED_ALIAS, OTHER_ALIAS] : [OTHER_ALIAS] },
    { keyId: IMPORTED_KEY },
  ];
  const configs = options.configs ?? [
    keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], {
      key_alias: WATCHED_ALIAS,
      creation_time: NOW - 30 * 24 * HOUR,
    }),
  ];
  const workspaces = (
    options.workspaces ?? [
      { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
      { workspace_id: WS2, workspace_name: 'dev', managed_services_customer_managed_key_id: 'cfg-old' },
    ]
  ).map(workspace);
  const account = new FakeAccount(workspaces, configs);
  const fake = new FakeKms(keys);
  const kms = options.kms ? options.kms(fake) : fake;
  const settings = { ...settingsWith(options.env), ...options.settings };
  return {
    account,
    kms: fake,
    settings,
    plan: (raw: unknown) =>
      planRotation(raw, { settings, kms, account, now: NOW, ...(options.recheck ? { recheck: true } : {}) }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<Error & { details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

const manual = (extra: Json = {}): Json => ({ workspaceIds: [WS], keyArn: NEW_ARN, ...extra });

describe('Plan: the steps a dry run shows', () => {
  it('lists every step of a managed-services rotation, keeping the old key for the retention window', async () => {
    // Prepare
    const w = world();
    // Act
    const plan = await w.plan(manual());
    // Assess
    expect(plan).toEqual({
      mode: 'rotate',
      workspaceCount: 1,
      resultBudgetBytes: 5000,
      dryRun: false,
      reason: `manual request: rotating 1 workspace(s) to ${NEW_ARN}`,
      trigger: { kind: 'manual', keyArn: NEW_ARN },
      target: { keyArn: NEW_ARN, keyId: NEW_KEY, region: 'us-east-1' },
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      storageWaitSeconds: 0,
      emergency: false,
      maxConcurrency: 4,
      workspaces: [
        {
          workspaceId: WS,
          workspaceName: 'prod',
          deploymentName: `dep-${WS}`,
          region: 'us-east-1',
          current: {
            managedServicesKeyConfigId: 'cfg-old',
            storageKeyConfigId: null,
            managedServicesKeyArn: OLD_ARN,
            storageKeyArn: null,
          },
          changes: { managedServices: true, storage: false },
          storageAdded: false,
          steps: [
            `check that ${NEW_ARN} is enabled, symmetric, ENCRYPT_DECRYPT and in us-east-1`,
            `patch the key policy of ${NEW_ARN} so Databricks may use it for MANAGED_SERVICES (no change when already granted)`,
            `register a key configuration for ${NEW_ARN} with use cases MANAGED_SERVICES (or reuse an identical one)`,
            'pause job schedules; let active job runs finish (up to 60 min), then stop',
            STOP,
            'update managed_services_customer_managed_key_id (now cfg-old)',
            WAIT_RUNNING,
            RESTART,
            `keep the old key ${OLD_ARN} usable for at least 24 h`,
          ],
        },
      ],
      oldKeyArns: [OLD_ARN],
    });
  });

  it('adds a first storage key with the storage wait, and has no old key to keep', async () => {
    // Prepare
    const w = world({ workspaces: [{ workspace_id: WS }] });
    // Act
    const plan = await w.plan(manual({ useCases: ['MANAGED_SERVICES', 'STORAGE'], activeRuns: 'fail' }));
    // Assess
    expect(plan.storageWaitSeconds).toBe(20 * 60);
    expect(plan.oldKeyArns).toEqual([]);
    expect(plan.workspaces[0]).toMatchObject({
      changes: { managedServices: true, storage: true },
      storageAdded: true,
      steps: [
        `check that ${NEW_ARN} is enabled, symmetric, ENCRYPT_DECRYPT and in us-east-1`,
        `patch the key policy of ${NEW_ARN} so Databricks may use it for MANAGED_SERVICES and STORAGE (no change when already granted)`,
        `register a key configuration for ${NEW_ARN} with use cases MANAGED_SERVICES, STORAGE (or reuse an identical one)`,
        'pause job schedules; fail if job runs are active',
        STOP,
        'update managed_services_customer_managed_key_id (now none)',
        'set storage_customer_managed_key_id (first storage key: it can never be changed)',
        WAIT_RUNNING,
        'wait 20 min (storage added) before starting compute',
        RESTART,
      ],
    });
  });

  it('adds only a storage key when only STORAGE is asked, leaving the managed-services key and its old key alone', async () => {
    // Prepare
    const w = world({
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old' }],
    });
    // Act
    const plan = await w.plan(manual({ useCases: ['STORAGE'], activeRuns: 'cancel' }));
    // Assess
    expect(plan.oldKeyArns).toEqual([]);
    expect(plan.workspaces[0]).toMatchObject({
      changes: { managedServices: false, storage: true },
      steps: [
        `check that ${NEW_ARN} is enabled, symmetric, ENCRYPT_DECRYPT and in us-east-1`,
        `patch the key policy of ${NEW_ARN} so Databricks may use it for STORAGE (no change when already granted)`,
        `register a key configuration for ${NEW_ARN} with use cases STORAGE (or reuse an identical one)`,
        'pause job schedules; cancel active job runs',
        STOP,
        'set storage_customer_managed_key_id (first storage key: it can never be changed)',
        WAIT_RUNNING,
        'wait 20 min (storage added) before starting compute',
        RESTART,
      ],
    });
  });

  it('waits for storage when any workspace adds a storage key, and lists each old key once', async () => {
    // Prepare
    const w = world({
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 30 * 24 * HOUR }),
        keyConfig('cfg-new-st', NEW_KEY, ['STORAGE'], { creation_time: NOW - 30 * 24 * HOUR }),
      ],
      workspaces: [
        { workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old' },
        {
          workspace_id: WS2,
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-new-st',
        },
        { workspace_id: WS3 },
      ],
    });
    // Act
    const plan = await w.plan(
      manual({ workspaceIds: [WS2, WS, WS3], useCases: ['MANAGED_SERVICES', 'STORAGE'] }),
    );
    // Assess
    expect(plan.workspaces.map((p) => [p.workspaceId, p.storageAdded])).toEqual([
      [WS2, false],
      [WS, true],
      [WS3, true],
    ]);
    expect(plan.workspaces[0]?.current.storageKeyConfigId).toBe('cfg-new-st');
    expect(plan.storageWaitSeconds).toBe(20 * 60);
    expect(plan.oldKeyArns).toEqual([OLD_ARN]);
  });

  it('names a workspace without a deployment name with an empty one', async () => {
    // Prepare
    const w = world({ workspaces: [{ workspace_id: WS, deployment_name: undefined }] });
    // Act
    const plan = await w.plan(manual());
    // Assess
    expect(plan.workspaces[0]?.deploymentName).toBe('');
  });
});

describe('Plan: the target alias recorded with the key configuration', () => {
  it('records the keyAlias the input names', async () => {
    // Act
    const plan = await world().plan(manual({ keyArn: undefined, keyAlias: OTHER_ALIAS }));
    // Assess
    expect(plan.target).toMatchObject({ keyArn: NEW_ARN, keyAlias: OTHER_ALIAS });
  });

  it('accepts keyArn and keyAlias together when they name the same key', async () => {
    // Act
    const plan = await world().plan(manual({ keyAlias: OTHER_ALIAS }));
    // Assess
    expect(plan.target).toMatchObject({ keyArn: NEW_ARN, keyAlias: OTHER_ALIAS });
  });

  it('refuses keyArn and keyAlias that name different keys, saying where each points', async () => {
    // Act
    const error = await rejection(world().plan(manual({ keyAlias: WATCHED_ALIAS })));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      `execution input field keyAlias is invalid: ${WATCHED_ALIAS} points at ${OLD_ARN}, not at keyArn ${NEW_ARN}; give one of them or make them agree`,
    );
    expect(error.details).toEqual({ field: 'keyAlias' });
  });

  it('records the watched alias when it already points at the target key', async () => {
    // Act
    const plan = await world({ aliasOn: NEW_KEY }).plan(manual());
    // Assess
    expect(plan.target).toMatchObject({ keyArn: NEW_ARN, keyAlias: WATCHED_ALIAS });
  });

  it('records no alias when the watched alias does not exist', async () => {
    // Act
    const plan = await world({ aliasOn: null }).plan(manual());
    // Assess
    expect(plan.target).toEqual({ keyArn: NEW_ARN, keyId: NEW_KEY, region: 'us-east-1' });
  });

  it('does not ask KMS about an alias when none is configured', async () => {
    // Prepare
    const w = world({ settings: { watchedAlias: undefined } });
    // Act
    const plan = await w.plan(manual());
    // Assess
    expect(plan.target).toEqual({ keyArn: NEW_ARN, keyId: NEW_KEY, region: 'us-east-1' });
    // DescribeKey of the target, then GetKeyPolicy of it (the explicit-Deny check), never the alias
    expect(w.kms.calls.map((c) => [c.operation, c.input.KeyId])).toEqual([
      ['DescribeKey', NEW_ARN],
      ['GetKeyPolicy', NEW_ARN],
    ]);
  });

  it('fails rather than guess when KMS cannot answer about the watched alias', async () => {
    // Prepare
    const w = world({
      kms: (fake) =>
        Object.assign(Object.create(fake), {
          send: async (command: { input: Json; constructor: { name: string } }) => {
            if (command.input.KeyId === WATCHED_ALIAS) {
              throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
            }
            return fake.send(command);
          },
        }),
    });
    // Act
    const error = await rejection(w.plan(manual()));
    // Assess: the retryable throttling error, not a plan without the alias
    expect(error.name).toBe('KmsThrottled');
    expect(error.message).toContain(WATCHED_ALIAS);
  });
});

describe('Plan: which workspaces a manual rotation looks at', () => {
  it('takes the configured WORKSPACE_IDS when the input names none', async () => {
    // Act
    const plan = await world({ env: { WORKSPACE_IDS: String(WS2) } }).plan(
      manual({ workspaceIds: undefined }),
    );
    // Assess
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS2]);
  });

  it('reports an unknown configured workspace against WORKSPACE_IDS', async () => {
    // Act
    const error = await rejection(
      world({ env: { WORKSPACE_IDS: '42' } }).plan(manual({ workspaceIds: undefined })),
    );
    // Assess
    expect(error.name).toBe('WorkspaceNotFound');
    expect(error.details?.field).toBe('WORKSPACE_IDS');
  });

  it('leaves out, and says why, workspaces of other regions when the alias governs every workspace registered under it', async () => {
    // Prepare: no WORKSPACE_IDS, so the workspaces registered under the watched alias follow it
    const w = world({
      aliasOn: NEW_KEY,
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
        {
          workspace_id: WS2,
          workspace_name: 'dev',
          aws_region: 'eu-west-1',
          managed_services_customer_managed_key_id: 'cfg-old',
        },
        {
          workspace_id: WS3,
          workspace_name: 'lab',
          aws_region: undefined,
          managed_services_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS]);
    expect(plan.reason).toBe(
      `watched alias ${WATCHED_ALIAS} now points at ${NEW_ARN}: rotating 1 workspace(s) to ${NEW_ARN}; left out: ${WS2} (dev) is in eu-west-1, the key in us-east-1; ${WS3} (lab) is in an unknown region, the key in us-east-1`,
    );
  });

  it('plans nothing, and says why, when every workspace already uses the key', async () => {
    // Prepare
    const w = world({
      configs: [keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES', 'STORAGE'])],
      workspaces: [
        {
          workspace_id: WS,
          workspace_name: 'prod',
          managed_services_customer_managed_key_id: 'cfg-new',
          storage_customer_managed_key_id: 'cfg-new',
        },
      ],
    });
    // Act
    const plan = await w.plan(manual({ useCases: ['MANAGED_SERVICES', 'STORAGE'] }));
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `manual request: nothing to change; left out: ${WS} (prod) already uses ${NEW_ARN} for MANAGED_SERVICES and STORAGE`,
      workspaces: [],
      storageWaitSeconds: 0,
      oldKeyArns: [],
    });
  });

  it('refuses an empty list of workspaces with NoWorkspacesInScope', () => {
    // Prepare
    const settings = settingsWith();
    const request = {
      trigger: { kind: 'manual' as const, keyArn: NEW_ARN },
      target: {
        keyId: NEW_KEY,
        arn: NEW_ARN,
        region: 'us-east-1',
        state: 'Enabled',
        keySpec: 'SYMMETRIC_DEFAULT',
        keyUsage: 'ENCRYPT_DECRYPT',
      },
      targetAlias: undefined,
      useCases: ['MANAGED_SERVICES' as const],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait' as const,
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      dryRun: false,
      emergency: false,
      maxConcurrency: 4,
      why: 'manual request',
      explicit: true,
    };
    // Act & Assess
    expect(() => rotationPlan([], settings, request)).toThrow(
      expect.objectContaining({
        name: 'NoWorkspacesInScope',
        message: 'manual request: no workspace is in scope',
      }),
    );
  });
});

describe('Plan: what a refusal tells the operator', () => {
  it('names the storage configuration of a workspace whose storage key is unknown', async () => {
    // Prepare
    const w = world({
      workspaces: [{ workspace_id: WS, workspace_name: 'prod', storage_customer_managed_key_id: 'cfg-gone' }],
    });
    // Act
    const error = await rejection(w.plan(manual({ useCases: ['STORAGE'] })));
    // Assess
    expect(error.name).toBe('StorageKeyAlreadySet');
    expect(error.message).toContain(
      `workspace ${WS} (prod) already has storage key configuration cfg-gone (unknown key)`,
    );
    expect(error.details).toEqual({ workspaceId: WS, field: 'useCases', keyArn: NEW_ARN });
  });

  it('says what state a workspace that is not running is in, with its status message', async () => {
    // Prepare
    const w = world({
      workspaces: [
        {
          workspace_id: WS,
          workspace_name: 'prod',
          workspace_status: 'PROVISIONING',
          workspace_status_message: 'Creating network',
        },
      ],
    });
    // Act
    const error = await rejection(w.plan(manual()));
    // Assess
    expect(error.name).toBe('WorkspaceNotRunning');
    expect(error.message).toBe(
      `workspace ${WS} (prod) is PROVISIONING (Creating network), not RUNNING; its key can only be changed while it runs. Retry once it is RUNNING. Nothing was touched: a request is refused whole before anything is done, so no workspace of it was rotated (name the others without this one to rotate them now). A workspace that another rotation is updating is PROVISIONING: \`"waitForLock": true\` waits for it.`,
    );
    expect(error.details).toEqual({ workspaceId: WS, status: 'PROVISIONING' });
  });

  it('says a workspace without a status is in an unknown state', async () => {
    // Prepare
    const w = world({
      workspaces: [{ workspace_id: WS, workspace_name: 'prod', workspace_status: undefined }],
    });
    // Act
    const error = await rejection(w.plan(manual()));
    // Assess
    expect(error.message).toMatch(
      new RegExp(`^workspace ${WS} \\(prod\\) is in an unknown state, not RUNNING;`),
    );
  });

  it('names the workspace a key in another region was meant for', async () => {
    // Prepare
    const w = world({ workspaces: [{ workspace_id: WS, aws_region: 'eu-west-1' }] });
    // Act
    const error = await rejection(w.plan(manual()));
    // Assess
    expect(error.name).toBe('KeyRegionMismatch');
    expect(error.details).toMatchObject({ workspaceId: WS, keyArn: NEW_ARN, workspaceRegion: 'eu-west-1' });
  });
});

describe('Plan: events that change nothing', () => {
  it('returns the complete no-op plan when a deleted key is not used', async () => {
    // Prepare
    const w = world({ configs: [], workspaces: [{ workspace_id: WS }] });
    // Act
    const plan = await w.plan(fixture('kms-cmk-deletion'));
    // Assess
    expect(plan).toEqual({
      mode: 'noop',
      dryRun: false,
      reason: `key ${OLD_ARN} (key deletion) is not used by any workspace in scope`,
      trigger: { kind: 'keyDeleted', eventId: EVENT_IDS.deletion, keyArn: OLD_ARN },
      target: null,
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      storageWaitSeconds: 0,
      emergency: false,
      maxConcurrency: 4,
      workspaces: [],
      oldKeyArns: [],
    });
  });

  it.each([
    ['kms-cmk-rotation', 'key material rotation', OLD_KEY],
    ['cloudtrail-disable-key', 'DisableKey', OLD_KEY],
    ['cloudtrail-schedule-key-deletion', 'ScheduleKeyDeletion', OLD_KEY],
    ['kms-cmk-deletion', 'key deletion', OLD_KEY],
    ['kms-imported-material-expiration', 'imported key material expiration', IMPORTED_KEY],
  ])('names the event %s in words when its key is unused', async (name, words, keyId) => {
    // Prepare
    const w = world({ configs: [], workspaces: [{ workspace_id: WS }] });
    // Act
    const plan = await w.plan(fixture(name));
    // Assess
    expect(plan.reason).toBe(`key ${arnOf(keyId)} (${words}) is not used by any workspace in scope`);
  });

  it('does nothing when the DisableKey call itself failed, saying so', async () => {
    // Prepare
    const event = fixture('cloudtrail-disable-key');
    (event.detail as Json).errorCode = 'AccessDeniedException';
    // Act
    const plan = await world().plan(event);
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: 'the DisableKey call failed (AccessDeniedException); the key did not change',
      trigger: { kind: 'keyDisabled', eventId: EVENT_IDS.disable },
    });
    expect(plan.trigger).not.toHaveProperty('keyArn');
  });

  it('does nothing when the alias change itself failed, saying so', async () => {
    // Prepare
    const event = fixture('cloudtrail-update-alias');
    (event.detail as Json).errorCode = 'NotFoundException';
    const w = world({ aliasOn: NEW_KEY });
    // Act
    const plan = await w.plan(event);
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `the alias change of ${WATCHED_ALIAS} failed (NotFoundException); nothing changed`,
      trigger: { kind: 'aliasMoved', eventId: EVENT_IDS.alias },
      workspaces: [],
    });
  });

  it.each([
    ['none is configured', undefined, 'none configured'],
    ['another alias is watched', OTHER_ALIAS, OTHER_ALIAS],
  ])('ignores a move of an alias that is not watched when %s', async (_, watchedAlias, words) => {
    // Prepare
    const w = world({ aliasOn: NEW_KEY, settings: { watchedAlias } });
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toBe(`alias ${WATCHED_ALIAS} is not the watched alias (${words}); nothing to do`);
  });

  it('does nothing when no workspace is registered under the moved alias, and says how to name them', async () => {
    // Prepare: one workspace without a managed-services key, one on a configuration without key info
    const w = world({
      aliasOn: NEW_KEY,
      configs: [{ customer_managed_key_id: 'cfg-bare', use_cases: ['MANAGED_SERVICES'] }],
      workspaces: [
        { workspace_id: WS },
        { workspace_id: WS2, managed_services_customer_managed_key_id: 'cfg-bare' },
      ],
    });
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `watched alias ${WATCHED_ALIAS} now points at ${NEW_ARN}, but no workspace's managed-services key configuration is registered under that alias; set WORKSPACE_IDS to name the workspaces the alias governs`,
      trigger: { kind: 'aliasMoved', eventId: EVENT_IDS.alias, keyArn: NEW_ARN },
      workspaces: [],
    });
  });

  it('rotates the workspaces registered under the moved alias, saying why', async () => {
    // Act
    const plan = await world({ aliasOn: NEW_KEY }).plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan.reason).toBe(
      `watched alias ${WATCHED_ALIAS} now points at ${NEW_ARN}: rotating 2 workspace(s) to ${NEW_ARN}`,
    );
  });

  it.each([
    ['cloudtrail-update-alias', { aliasOn: NEW_KEY }],
    ['cloudtrail-disable-key', {}],
  ])('reports an unknown configured workspace of a %s event against WORKSPACE_IDS', async (name, options) => {
    // Act
    const error = await rejection(world({ ...options, env: { WORKSPACE_IDS: '42' } }).plan(fixture(name)));
    // Assess
    expect(error.name).toBe('WorkspaceNotFound');
    expect(error.details?.field).toBe('WORKSPACE_IDS');
  });
});

describe('Plan: KMS rotated the key material', () => {
  it('verifies every use of the key without downtime, listing what each check covers', async () => {
    // Prepare: the first workspace uses the key for storage only, the second for both
    const w = world({
      configs: [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES', 'STORAGE'])],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', storage_customer_managed_key_id: 'cfg-old' },
        {
          workspace_id: WS2,
          workspace_name: 'dev',
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    const steps = (uses: string) => [
      `check that the key configuration(s) for ${uses} still exist and point at ${OLD_ARN}`,
      `check that ${OLD_ARN} is enabled, symmetric, ENCRYPT_DECRYPT and in us-east-1`,
      `fail with KeyPolicyDrift if the key policy of ${OLD_ARN} no longer grants Databricks ${uses} (repair not asked)`,
      'touch no compute (no downtime)',
    ];
    // Act
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    // Assess
    expect(plan).toEqual({
      mode: 'verify',
      dryRun: false,
      reason: `KMS rotated the key material of ${OLD_ARN} in place (same ARN); verifying 2 workspace(s) that use it`,
      trigger: { kind: 'keyRotated', eventId: EVENT_IDS.rotation, keyArn: OLD_ARN },
      target: { keyArn: OLD_ARN, keyId: OLD_KEY, region: 'us-east-1' },
      useCases: ['MANAGED_SERVICES', 'STORAGE'],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      storageWaitSeconds: 0,
      emergency: false,
      maxConcurrency: 4,
      workspaces: [
        {
          workspaceId: WS,
          workspaceName: 'prod',
          deploymentName: `dep-${WS}`,
          region: 'us-east-1',
          current: {
            managedServicesKeyConfigId: null,
            storageKeyConfigId: 'cfg-old',
            managedServicesKeyArn: null,
            storageKeyArn: OLD_ARN,
          },
          changes: { managedServices: false, storage: false },
          storageAdded: false,
          steps: steps('STORAGE'),
        },
        {
          workspaceId: WS2,
          workspaceName: 'dev',
          deploymentName: `dep-${WS2}`,
          region: 'us-east-1',
          current: {
            managedServicesKeyConfigId: 'cfg-old',
            storageKeyConfigId: 'cfg-old',
            managedServicesKeyArn: OLD_ARN,
            storageKeyArn: OLD_ARN,
          },
          changes: { managedServices: false, storage: false },
          storageAdded: false,
          steps: steps('MANAGED_SERVICES and STORAGE'),
        },
      ],
      oldKeyArns: [],
      workspaceCount: 2,
      repairPolicy: false,
    });
  });

  it('only verifies, and moves no workspace, even when the watched alias names another key', async () => {
    // Prepare: material rotated in place needs no workspace change (DESIGN §3), whatever the alias says
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES']),
        keyConfig('cfg-old-st', OLD_KEY, ['STORAGE']),
      ],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
        { workspace_id: WS2, workspace_name: 'dev', storage_customer_managed_key_id: 'cfg-old-st' },
      ],
    });
    // Act
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    // Assess: both users are verified, the storage one included
    expect(plan.mode).toBe('verify');
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS, WS2]);
    expect(plan.target?.keyArn).toBe(OLD_ARN);
  });

  it('asks the verification to repair a drifted policy only when REPAIR_POLICY_ON_ROTATION is set', async () => {
    // Act
    const repairing = await world({ env: { REPAIR_POLICY_ON_ROTATION: 'true' } }).plan(
      fixture('kms-cmk-rotation'),
    );
    const reporting = await world().plan(fixture('kms-cmk-rotation'));
    // Assess
    expect(repairing.repairPolicy).toBe(true);
    expect(repairing.workspaces[0]?.steps[2]).toBe(
      `re-patch the key policy of ${OLD_ARN} if it no longer grants Databricks MANAGED_SERVICES`,
    );
    expect(reporting.repairPolicy).toBe(false);
  });

  it('verifies a key used only for storage even when the watched alias moved on', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      configs: [keyConfig('cfg-old-st', OLD_KEY, ['STORAGE'])],
      workspaces: [{ workspace_id: WS, storage_customer_managed_key_id: 'cfg-old-st' }],
    });
    // Act
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    // Assess
    expect(plan.mode).toBe('verify');
    expect(plan.useCases).toEqual(['STORAGE']);
  });
});

describe('Plan: a key in use stops working', () => {
  it('with EMERGENCY_ROTATION, names every workspace whose storage key it is, and how to undo the change', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      oldState: 'PendingDeletion',
      recheck: true,
      env: { EMERGENCY_ROTATION: 'true' },
      configs: [keyConfig('cfg-old-st', OLD_KEY, ['STORAGE'])],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', storage_customer_managed_key_id: 'cfg-old-st' },
        { workspace_id: WS2, workspace_name: 'dev', storage_customer_managed_key_id: 'cfg-old-st' },
      ],
    });
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-schedule-key-deletion')));
    // Assess
    expect(error.name).toBe('StorageKeyCannotBeRotated');
    expect(error.message).toBe(
      `KMS key ${OLD_ARN} (ScheduleKeyDeletion) is the storage key of workspace(s) ${WS} (prod), ${WS2} (dev); a storage key can never be replaced, so those workspaces will lose access to their root storage. Re-enable the key or cancel its deletion (kms:EnableKey / kms:CancelKeyDeletion) now.`,
    );
    expect(error.details).toEqual({ keyArn: OLD_ARN, workspaceIds: [WS, WS2] });
  });

  it.each<[string, World, string, string]>([
    [
      'no alias is watched',
      { settings: { watchedAlias: undefined } },
      'no watched alias is configured (setting WATCHED_ALIAS)',
      'the watched alias (setting WATCHED_ALIAS)',
    ],
    [
      'the watched alias does not exist',
      { aliasOn: null },
      `the watched alias ${WATCHED_ALIAS} does not exist`,
      WATCHED_ALIAS,
    ],
    [
      'the watched alias still names the key',
      {},
      `the watched alias ${WATCHED_ALIAS} still points at this key`,
      WATCHED_ALIAS,
    ],
  ])(
    'with EMERGENCY_ROTATION, fails with KeyInUseWithoutSuccessor when %s, naming the workspaces',
    async (_, options, why, alias) => {
      // Prepare
      const w = world({
        ...options,
        oldState: 'Disabled',
        recheck: true,
        env: { EMERGENCY_ROTATION: 'true' },
      });
      // Act
      const error = await rejection(w.plan(fixture('cloudtrail-disable-key')));
      // Assess
      expect(error.name).toBe('KeyInUseWithoutSuccessor');
      expect(error.message).toBe(
        `KMS key ${OLD_ARN} (DisableKey) still protects the managed services of workspace(s) ${WS} (prod), ${WS2} (dev), and ${why}. Re-enable the key or cancel its deletion, or point ${alias} at a new enabled key in the same region to rotate them.`,
      );
      expect(error.details).toEqual({ keyArn: OLD_ARN, workspaceIds: [WS, WS2] });
    },
  );

  it('fails rather than report a missing successor when KMS cannot answer about the watched alias', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      oldState: 'Disabled',
      recheck: true,
      env: { EMERGENCY_ROTATION: 'true' },
      kms: (fake) =>
        Object.assign(Object.create(fake), {
          send: async (command: { input: Json; constructor: { name: string } }) => {
            if (command.input.KeyId === WATCHED_ALIAS) {
              throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
            }
            return fake.send(command);
          },
        }),
    });
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-disable-key')));
    // Assess
    expect(error.name).toBe('KmsThrottled');
    expect(error.message).toContain(WATCHED_ALIAS);
  });

  it('with EMERGENCY_ROTATION, moves the managed-services users to the successor after the re-check, cancelling runs', async () => {
    // Act
    const plan = await world({
      aliasOn: NEW_KEY,
      oldState: 'Disabled',
      recheck: true,
      env: { EMERGENCY_ROTATION: 'true' },
    }).plan(fixture('cloudtrail-disable-key'));
    // Assess
    expect(plan).toMatchObject({
      mode: 'rotate',
      emergency: true,
      activeRuns: 'cancel',
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      drainTimeoutMinutes: 60,
      trigger: { kind: 'keyDisabled', eventId: EVENT_IDS.disable, keyArn: OLD_ARN },
      target: { keyArn: NEW_ARN, keyAlias: WATCHED_ALIAS },
      reason: `emergency (EMERGENCY_ROTATION): DisableKey of ${OLD_ARN}, still unusable after the grace delay; moving its workspaces' managed services to ${NEW_ARN} (watched alias ${WATCHED_ALIAS}): rotating 2 workspace(s) to ${NEW_ARN}`,
    });
    expect(plan.workspaces[0]?.steps[3]).toBe(
      'pause job schedules; cancel active job runs (emergency: the current key is going away)',
    );
  });

  it('waits the grace delay before anything else, touching nothing, when the key is still disabled', async () => {
    // Prepare
    const w = world({ aliasOn: NEW_KEY, oldState: 'Disabled', env: { EMERGENCY_ROTATION: 'true' } });
    // Act
    const plan = await w.plan(fixture('cloudtrail-disable-key'));
    // Assess: even with emergency rotation on, the first look only schedules the re-check
    expect(plan).toMatchObject({
      mode: 'recheck',
      recheckSeconds: 600,
      workspaces: [],
      workspaceCount: 2,
      trigger: { kind: 'keyDisabled', keyArn: OLD_ARN },
    });
    expect(plan.reason).toBe(
      `DisableKey of ${OLD_ARN}, which workspace(s) ${WS} (prod) (MANAGED_SERVICES), ${WS2} (dev) (MANAGED_SERVICES) use: the key is Disabled. Reading it again in 10 min (KEY_RECHECK_GRACE_MINUTES); nothing is touched meanwhile.`,
    );
    expect(w.kms.writes()).toEqual([]);
  });

  it('succeeds with a notice when the key is enabled again, at the first look or at the re-check', async () => {
    for (const recheck of [false, true]) {
      // Act
      const plan = await world({ recheck }).plan(fixture('cloudtrail-disable-key'));
      // Assess
      expect(plan.mode).toBe('noop');
      expect(plan.reason).toMatch(
        new RegExp(`^notice: DisableKey of ${OLD_ARN} was reported, but the key is Enabled now`),
      );
      expect(plan.reason).toContain(`${WS} (prod) (MANAGED_SERVICES)`);
    }
  });

  it.each<[string, string, string, string]>([
    [
      'Disabled',
      'cloudtrail-disable-key',
      'KeyInUseDisabled',
      `aws kms enable-key --key-id ${OLD_ARN} --region us-east-1`,
    ],
    [
      'PendingDeletion',
      'cloudtrail-schedule-key-deletion',
      'KeyInUsePendingDeletion',
      `aws kms cancel-key-deletion --key-id ${OLD_ARN} --region us-east-1 && aws kms enable-key --key-id ${OLD_ARN} --region us-east-1`,
    ],
    [
      'PendingImport',
      'kms-imported-material-expiration',
      'KeyMaterialExpired',
      'import the same key material again',
    ],
  ])(
    'fails a key still %s at the re-check with its own error, the workspaces and the command that undoes it',
    async (state, event, name, command) => {
      // Prepare: the default (no EMERGENCY_ROTATION); the imported-material event names IMPORTED_KEY
      const keyId = event === 'kms-imported-material-expiration' ? IMPORTED_KEY : OLD_KEY;
      const w = world({
        recheck: true,
        keys: [
          { keyId: OLD_KEY, aliases: [WATCHED_ALIAS], ...(keyId === OLD_KEY ? { state } : {}) },
          { keyId: NEW_KEY },
          { keyId: IMPORTED_KEY, ...(keyId === IMPORTED_KEY ? { state } : {}) },
        ],
        configs: [keyConfig('cfg-old', keyId, ['MANAGED_SERVICES'])],
      });
      // Act
      const error = await rejection(w.plan(fixture(event)));
      // Assess
      expect(error.name).toBe(name);
      expect(error.message).toContain(command);
      expect(error.message).toContain(`${WS} (prod) (MANAGED_SERVICES), ${WS2} (dev) (MANAGED_SERVICES)`);
      expect(error.message).toContain('No compute was touched');
      expect(error.details).toMatchObject({ keyArn: arnOf(keyId), keyState: state, workspaceIds: [WS, WS2] });
      expect(w.kms.writes()).toEqual([]);
    },
  );

  it('fails a deleted key in use at once with KeyInUseDeleted: nothing undoes a deletion, so there is no re-check', async () => {
    // Prepare: the deleted key no longer exists in KMS
    const w = world({ keys: [{ keyId: NEW_KEY, aliases: [WATCHED_ALIAS] }] });
    // Act
    const error = await rejection(w.plan(fixture('kms-cmk-deletion')));
    // Assess
    expect(error.name).toBe('KeyInUseDeleted');
    expect(error.message).toContain(`${WS} (prod) (MANAGED_SERVICES)`);
  });

  it('fails a storage key still disabled with KeyInUseDisabled, not an emergency rotation, by default', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      oldState: 'Disabled',
      recheck: true,
      configs: [keyConfig('cfg-old-st', OLD_KEY, ['STORAGE'])],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', storage_customer_managed_key_id: 'cfg-old-st' },
      ],
    });
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-disable-key')));
    // Assess
    expect(error.name).toBe('KeyInUseDisabled');
    expect(error.message).toContain(`${WS} (prod) (STORAGE)`);
  });

  it('re-checks at once when the grace delay is 0', async () => {
    // Act
    const error = await rejection(
      world({ oldState: 'Disabled', env: { KEY_RECHECK_GRACE_MINUTES: '0' } }).plan(
        fixture('cloudtrail-disable-key'),
      ),
    );
    // Assess
    expect(error.name).toBe('KeyInUseDisabled');
    expect(error.message).not.toContain('min later');
  });
});

describe('Plan: an unused key retired within its retention window', () => {
  /** The account after WS moved from OLD (cfg-old) to NEW (cfg-new) `hoursAgo` hours ago. */
  function movedOff(hoursAgo: number | undefined, oldCreated: number | undefined = NOW - 30 * 24 * HOUR) {
    return world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: oldCreated }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], {
          creation_time: hoursAgo === undefined ? undefined : NOW - hoursAgo * HOUR,
        }),
      ],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-new' },
      ],
    });
  }

  it('names the workspace, its new configuration and when it moved', async () => {
    // Act
    const error = await rejection(movedOff(2).plan(fixture('cloudtrail-schedule-key-deletion')));
    // Assess
    expect(error.name).toBe('OldKeyRetiredTooEarly');
    expect(error.message).toBe(
      `KMS key ${OLD_ARN} (ScheduleKeyDeletion) was replaced less than 24 h ago: ${WS} (prod) moved to configuration cfg-new at 2026-11-25T14:45:00.000Z. Data written before the change still needs it; re-enable the key or cancel its deletion until the retention window has passed.`,
    );
    expect(error.details).toEqual({ keyArn: OLD_ARN, oldKeyRetentionHours: 24 });
  });

  it('counts a move exactly at the start of the window as within it', async () => {
    // Act
    const error = await rejection(movedOff(24).plan(fixture('cloudtrail-schedule-key-deletion')));
    // Assess
    expect(error.name).toBe('OldKeyRetiredTooEarly');
  });

  it('does not count a configuration older than the window', async () => {
    // Act
    const plan = await movedOff(24.001).plan(fixture('cloudtrail-schedule-key-deletion'));
    // Assess
    expect(plan.mode).toBe('noop');
  });

  it('does not count a configuration whose creation time is unknown', async () => {
    // Act
    const plan = await movedOff(undefined).plan(fixture('cloudtrail-schedule-key-deletion'));
    // Assess
    expect(plan.mode).toBe('noop');
  });

  it('does not count a configuration created before the old key’s own', async () => {
    // Act
    const plan = await movedOff(2, NOW - HOUR).plan(fixture('cloudtrail-schedule-key-deletion'));
    // Assess
    expect(plan.mode).toBe('noop');
  });

  it('counts a configuration created at the same moment as the old key’s', async () => {
    // Act
    const error = await rejection(
      movedOff(2, NOW - 2 * HOUR).plan(fixture('cloudtrail-schedule-key-deletion')),
    );
    // Assess
    expect(error.name).toBe('OldKeyRetiredTooEarly');
  });

  it('counts a recent move when the old key’s configuration has no creation time', async () => {
    // Act
    const error = await rejection(movedOff(2, undefined).plan(fixture('cloudtrail-schedule-key-deletion')));
    // Assess
    expect(error.name).toBe('OldKeyRetiredTooEarly');
  });

  it('does nothing when the account has no configuration for the key, however recent other moves are', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        {
          customer_managed_key_id: 'cfg-bare',
          use_cases: ['MANAGED_SERVICES'],
          creation_time: NOW - 30 * 24 * HOUR,
        },
        keyConfig('cfg-imported', IMPORTED_KEY, ['MANAGED_SERVICES'], {
          creation_time: NOW - 30 * 24 * HOUR,
        }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 2 * HOUR }),
      ],
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-new' }],
    });
    // Act
    const plan = await w.plan(fixture('cloudtrail-schedule-key-deletion'));
    // Assess
    expect(plan.mode).toBe('noop');
  });

  it('compares only configurations of the old key’s own use case', async () => {
    // Prepare: the old key was a storage key nobody uses; a workspace changed its managed-services key recently
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old-st', OLD_KEY, ['STORAGE'], { creation_time: NOW - 30 * 24 * HOUR }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 2 * HOUR }),
      ],
      workspaces: [
        { workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-new' },
        { workspace_id: WS2 },
      ],
    });
    // Act
    const plan = await w.plan(fixture('cloudtrail-schedule-key-deletion'));
    // Assess
    expect(plan.mode).toBe('noop');
  });

  it('names each recent move once even when the old key has two configurations', async () => {
    // Prepare
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 30 * 24 * HOUR }),
        keyConfig('cfg-old-2', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 20 * 24 * HOUR }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 2 * HOUR }),
      ],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-new' },
        { workspace_id: WS2, workspace_name: 'dev', managed_services_customer_managed_key_id: 'cfg-new' },
      ],
    });
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-schedule-key-deletion')));
    // Assess
    expect(error.message).toContain(
      `ago: ${WS} (prod) moved to configuration cfg-new at 2026-11-25T14:45:00.000Z; ${WS2} (dev) moved to configuration cfg-new at 2026-11-25T14:45:00.000Z. Data`,
    );
  });
});
