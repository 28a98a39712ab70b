import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planRotation } from '../../lib/plan/plan.ts';
import { PlanSchema } from '../../lib/rotation.ts';
import {
  AWS_ACCOUNT,
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

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

const WS = 1234567890123456;
const WS2 = 2345678901234567;
const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-25T16:45:00Z');

interface World {
  keys?: FakeKey[];
  aliasOn?: string;
  workspaces?: Parameters<typeof workspace>[0][];
  configs?: ReturnType<typeof keyConfig>[];
  env?: Record<string, string>;
  recheck?: boolean;
}

/** Two workspaces on the old key (managed services), both keys enabled, the watched alias on `aliasOn`. */
function world(options: World = {}) {
  const aliasOn = options.aliasOn ?? OLD_KEY;
  const keys = options.keys ?? [
    { keyId: OLD_KEY, aliases: aliasOn === OLD_KEY ? [WATCHED_ALIAS] : [] },
    { keyId: NEW_KEY, aliases: aliasOn === NEW_KEY ? [WATCHED_ALIAS] : [] },
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
  const kms = new FakeKms(keys);
  const settings = settingsWith(options.env);
  return {
    account,
    kms,
    settings,
    plan: (raw: unknown) =>
      planRotation(raw, { settings, kms, account, now: NOW, ...(options.recheck ? { recheck: true } : {}) }),
  };
}

const EMERGENCY = { EMERGENCY_ROTATION: 'true' };
const disabledOld = (aliasOn: string, state = 'Disabled'): FakeKey[] => [
  { keyId: OLD_KEY, state, aliases: aliasOn === OLD_KEY ? [WATCHED_ALIAS] : [] },
  { keyId: NEW_KEY, aliases: aliasOn === NEW_KEY ? [WATCHED_ALIAS] : [] },
  { keyId: IMPORTED_KEY, state: 'PendingImport' },
];

async function rejection(promise: Promise<unknown>): Promise<Error & { details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

describe('Plan: fixture events', () => {
  it('verifies without downtime when KMS rotated the material of a key in use', async () => {
    // Prepare
    const w = world();
    // Act
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    // Assess
    expect(plan.mode).toBe('verify');
    expect(plan.trigger).toMatchObject({ kind: 'keyRotated', keyArn: arnOf(OLD_KEY) });
    expect(plan.target?.keyArn).toBe(arnOf(OLD_KEY));
    expect(plan.workspaces.map((x) => x.workspaceId)).toEqual([WS, WS2]);
    expect(plan.workspaces.every((x) => !x.changes.managedServices && !x.changes.storage)).toBe(true);
    expect(PlanSchema.parse(plan)).toEqual(plan);
  });

  it('only verifies when KMS rotated a key the alias no longer names: material rotated in place changes no workspace', async () => {
    const w = world({ aliasOn: NEW_KEY });
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    expect(plan.mode).toBe('verify');
    expect(plan.target?.keyArn).toBe(arnOf(OLD_KEY));
    expect(plan.oldKeyArns).toEqual([]);
  });

  it('does nothing when KMS rotated a key no workspace uses', async () => {
    const w = world({
      configs: [keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'])],
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-new' }],
    });
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    expect(plan.mode).toBe('noop');
    expect(plan.workspaces).toEqual([]);
  });

  it('with EMERGENCY_ROTATION, rotates as an emergency, cancelling runs, when a key in use is still disabled at the re-check and the alias names a successor', async () => {
    const w = world({ aliasOn: NEW_KEY, keys: disabledOld(NEW_KEY), env: EMERGENCY, recheck: true });
    const plan = await w.plan(fixture('cloudtrail-disable-key'));
    expect(plan).toMatchObject({ mode: 'rotate', emergency: true, activeRuns: 'cancel', dryRun: false });
    expect(plan.trigger).toMatchObject({ kind: 'keyDisabled', keyArn: arnOf(OLD_KEY) });
    expect(plan.target).toMatchObject({ keyArn: arnOf(NEW_KEY), keyAlias: WATCHED_ALIAS });
    expect(plan.workspaces.map((x) => x.changes)).toEqual([
      { managedServices: true, storage: false },
      { managedServices: true, storage: false },
    ]);
  });

  it('with EMERGENCY_ROTATION, fails with KeyInUseWithoutSuccessor when a key in use is disabled and the alias still names it', async () => {
    const w = world({ aliasOn: OLD_KEY, keys: disabledOld(OLD_KEY), env: EMERGENCY, recheck: true });
    const error = await rejection(w.plan(fixture('cloudtrail-disable-key')));
    expect(error.name).toBe('KeyInUseWithoutSuccessor');
    expect(error.message).toContain(arnOf(OLD_KEY));
    expect(error.message).toContain(`${WS} (prod)`);
  });

  it('with EMERGENCY_ROTATION, does not accept a disabled alias target as a successor', async () => {
    const w = world({
      keys: [
        { keyId: OLD_KEY, state: 'PendingDeletion' },
        { keyId: NEW_KEY, state: 'Disabled', aliases: [WATCHED_ALIAS] },
      ],
      env: EMERGENCY,
      recheck: true,
    });
    const error = await rejection(w.plan(fixture('cloudtrail-schedule-key-deletion')));
    expect(error.name).toBe('KeyInUseWithoutSuccessor');
    expect(error.message).toContain('disabled');
  });

  it('with EMERGENCY_ROTATION, fails with StorageKeyCannotBeRotated when the storage key of a workspace is scheduled for deletion', async () => {
    const w = world({
      aliasOn: NEW_KEY,
      keys: disabledOld(NEW_KEY, 'PendingDeletion'),
      env: EMERGENCY,
      recheck: true,
      configs: [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES', 'STORAGE'])],
      workspaces: [
        {
          workspace_id: WS,
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    const error = await rejection(w.plan(fixture('cloudtrail-schedule-key-deletion')));
    expect(error.name).toBe('StorageKeyCannotBeRotated');
  });

  it('fails with OldKeyRetiredTooEarly when a key replaced within the retention window is scheduled for deletion', async () => {
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 30 * 24 * HOUR }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 2 * HOUR }),
      ],
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-new' }],
    });
    const error = await rejection(w.plan(fixture('cloudtrail-schedule-key-deletion')));
    expect(error.name).toBe('OldKeyRetiredTooEarly');
    expect(error.message).toContain('24 h');
  });

  it('does nothing when a key replaced before the retention window is scheduled for deletion', async () => {
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 30 * 24 * HOUR }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { creation_time: NOW - 48 * HOUR }),
      ],
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-new' }],
    });
    const plan = await w.plan(fixture('cloudtrail-schedule-key-deletion'));
    expect(plan.mode).toBe('noop');
    expect(plan.trigger.kind).toBe('keyDeletionScheduled');
  });

  it('does nothing when a key no workspace uses was deleted', async () => {
    const w = world({ configs: [], workspaces: [{ workspace_id: WS }] });
    const plan = await w.plan(fixture('kms-cmk-deletion'));
    expect(plan).toMatchObject({ mode: 'noop', trigger: { kind: 'keyDeleted', keyArn: arnOf(OLD_KEY) } });
  });

  it('with EMERGENCY_ROTATION, rotates as an emergency when the imported material of a key in use expired', async () => {
    const w = world({
      aliasOn: NEW_KEY,
      keys: disabledOld(NEW_KEY),
      env: EMERGENCY,
      recheck: true,
      configs: [keyConfig('cfg-imp', IMPORTED_KEY, ['MANAGED_SERVICES'])],
      workspaces: [{ workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-imp' }],
    });
    const plan = await w.plan(fixture('kms-imported-material-expiration'));
    expect(plan).toMatchObject({ mode: 'rotate', emergency: true, trigger: { kind: 'keyMaterialExpired' } });
    expect(plan.oldKeyArns).toEqual([arnOf(IMPORTED_KEY)]);
  });

  it('does nothing when the imported material of an unused key expired', async () => {
    const w = world();
    const plan = await w.plan(fixture('kms-imported-material-expiration'));
    expect(plan.mode).toBe('noop');
    expect(w.account.writes()).toEqual([]);
  });

  it('rotates the configured workspaces when the watched alias moves', async () => {
    const w = world({ aliasOn: NEW_KEY, env: { WORKSPACE_IDS: String(WS) } });
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    expect(plan).toMatchObject({ mode: 'rotate', emergency: false, useCases: ['MANAGED_SERVICES'] });
    expect(plan.trigger).toMatchObject({ kind: 'aliasMoved', keyArn: arnOf(NEW_KEY) });
    expect(plan.workspaces.map((x) => x.workspaceId)).toEqual([WS]);
  });

  it('does nothing when the watched alias no longer points where the event says (a late or superseded event)', async () => {
    // Prepare: the event moved the alias to the new key, but the alias is (again) on the old one
    const w = world({ aliasOn: OLD_KEY, env: { WORKSPACE_IDS: String(WS) } });
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan).toMatchObject({ mode: 'noop', trigger: { kind: 'aliasMoved', keyArn: arnOf(NEW_KEY) } });
    expect(plan.reason).toBe(
      `the event moved watched alias ${WATCHED_ALIAS} to ${arnOf(NEW_KEY)}, but it now points at ${arnOf(OLD_KEY)}: a later change superseded this event (its own event rotates to the current target); nothing to do`,
    );
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });

  it('does nothing when the watched alias no longer resolves', async () => {
    const w = world({ aliasOn: 'none', env: { WORKSPACE_IDS: String(WS) } });
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toContain(
      'but it now does not resolve: a later change superseded this event; nothing to do',
    );
  });

  it('does nothing for an alias ARN of another account, even one named like the watched alias', async () => {
    // Prepare
    const w = world({ aliasOn: NEW_KEY, env: { WORKSPACE_IDS: String(WS) } });
    const event = fixture('cloudtrail-update-alias') as {
      detail: { requestParameters: Record<string, string> };
    };
    const foreign = `arn:aws:kms:us-east-1:999999999999:${WATCHED_ALIAS}`;
    event.detail.requestParameters.aliasName = foreign;
    // Act
    const plan = await w.plan(event);
    // Assess
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toContain(`names ${foreign}, which is not an alias of this deployment's account`);
  });

  it('rotates only the workspaces registered under the watched alias when no workspaces are configured', async () => {
    const w = world({
      aliasOn: NEW_KEY,
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS }),
        keyConfig('cfg-other', IMPORTED_KEY, ['MANAGED_SERVICES']),
      ],
      workspaces: [
        { workspace_id: WS, managed_services_customer_managed_key_id: 'cfg-old' },
        { workspace_id: WS2, managed_services_customer_managed_key_id: 'cfg-other' },
      ],
    });
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    expect(plan.workspaces.map((x) => x.workspaceId)).toEqual([WS]);
  });

  it('does nothing when an alias other than the watched one moves', async () => {
    const w = world({ env: { WATCHED_ALIAS: 'alias/something-else' } });
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    expect(plan.mode).toBe('noop');
    expect(w.account.calls).toEqual([]);
  });

  it('does nothing when the CloudTrail call itself failed', async () => {
    const w = world({ aliasOn: NEW_KEY });
    const event = fixture('cloudtrail-disable-key');
    (event.detail as Record<string, unknown>).errorCode = 'AccessDeniedException';
    const plan = await w.plan(event);
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toContain('AccessDeniedException');
  });

  it('rejects a Step Functions status change event as UnsupportedEvent', async () => {
    const w = world();
    const error = await rejection(w.plan(fixture('sfn-execution-failed')));
    expect(error.name).toBe('UnsupportedEvent');
    expect(w.account.calls).toEqual([]);
  });

  it('resolves a DisableKey event that names the key by id only', async () => {
    const w = world({ aliasOn: NEW_KEY });
    const event = fixture('cloudtrail-disable-key');
    (event.detail as Record<string, unknown>).resources = [];
    const plan = await w.plan(event);
    expect(plan.trigger.keyArn).toBe(arnOf(OLD_KEY));
    expect(w.kms.calls.map((c) => c.input.KeyId)).toContain(OLD_KEY);
  });
});

describe('Plan: manual input', () => {
  const manual = (extra: Record<string, unknown> = {}) => ({
    workspaceIds: [WS],
    keyArn: arnOf(NEW_KEY),
    ...extra,
  });

  it('rotates the named workspaces to the key with the documented defaults', async () => {
    const w = world();
    const plan = await w.plan(manual());
    expect(plan).toMatchObject({
      mode: 'rotate',
      dryRun: false,
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      storageWaitSeconds: 0,
      emergency: false,
      maxConcurrency: 4,
      oldKeyArns: [arnOf(OLD_KEY)],
    });
    const [ws] = plan.workspaces;
    expect(ws).toMatchObject({
      workspaceId: WS,
      workspaceName: 'prod',
      deploymentName: `dep-${WS}`,
      region: 'us-east-1',
      current: {
        managedServicesKeyConfigId: 'cfg-old',
        managedServicesKeyArn: arnOf(OLD_KEY),
        storageKeyConfigId: null,
      },
      changes: { managedServices: true, storage: false },
      storageAdded: false,
    });
    expect(ws?.steps.join('\n')).toContain('update managed_services_customer_managed_key_id');
    expect(PlanSchema.parse(plan)).toEqual(plan);
  });

  it('plans the storage wait when a first storage key is added', async () => {
    const w = world();
    const plan = await w.plan(manual({ useCases: ['MANAGED_SERVICES', 'STORAGE'] }));
    expect(plan.storageWaitSeconds).toBe(20 * 60);
    expect(plan.workspaces[0]).toMatchObject({
      changes: { managedServices: true, storage: true },
      storageAdded: true,
    });
    expect(plan.workspaces[0]?.steps.join('\n')).toContain('wait 20 min (storage added)');
  });

  it('returns the same plan marked as a dry run', async () => {
    const w = world();
    const plan = await w.plan(manual({ dryRun: true }));
    expect(plan).toMatchObject({ mode: 'rotate', dryRun: true });
  });

  it('resolves keyAlias to the key it names', async () => {
    const w = world({ aliasOn: NEW_KEY });
    const plan = await w.plan({ workspaceIds: [WS], keyAlias: WATCHED_ALIAS });
    expect(plan.target).toEqual({
      keyArn: arnOf(NEW_KEY),
      keyId: NEW_KEY,
      region: 'us-east-1',
      keyAlias: WATCHED_ALIAS,
    });
  });

  it('leaves out workspaces already on the key and plans noop when none is left', async () => {
    const w = world();
    const plan = await w.plan(manual({ keyArn: arnOf(OLD_KEY) }));
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toContain('already uses');
  });

  it.each([
    ['an unknown field', { colour: 'blue' }, 'colour'],
    ['a malformed key ARN', { keyArn: 'arn:aws:kms:us-east-1:1111:key/x' }, 'keyArn'],
    ['an AWS managed alias', { keyArn: undefined, keyAlias: 'alias/aws/ebs' }, 'keyAlias'],
    ['a non-numeric workspace id', { workspaceIds: [WS, 'abc'] }, 'workspaceIds[1]'],
    ['an empty use-case list', { useCases: [] }, 'useCases'],
    ['an unknown use case', { useCases: ['LOGS'] }, 'useCases[0]'],
    ['a repeated use case', { useCases: ['STORAGE', 'STORAGE'] }, 'useCases'],
    ['no target key', { keyArn: undefined }, 'keyArn'],
    ['an out-of-range concurrency', { maxConcurrency: 41 }, 'maxConcurrency'],
  ])('rejects %s with InvalidInput naming the field, touching nothing', async (_what, extra, field) => {
    const w = world();
    const error = await rejection(w.plan(manual(extra)));
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe(field);
    expect(error.message).toContain(field.replace(/\[\d+\]$/, ''));
    expect(w.account.calls).toEqual([]);
    expect(w.kms.calls).toEqual([]);
  });

  it('rejects an unknown workspace with WorkspaceNotFound naming the field, touching nothing', async () => {
    const w = world();
    const error = await rejection(w.plan(manual({ workspaceIds: [WS, 999] })));
    expect(error.name).toBe('WorkspaceNotFound');
    expect(error.message).toContain('workspaceIds[1] = 999');
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });

  it('rejects a different storage key with StorageKeyAlreadySet', async () => {
    const w = world({
      configs: [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES', 'STORAGE'])],
      workspaces: [
        {
          workspace_id: WS,
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    const error = await rejection(w.plan(manual({ useCases: ['MANAGED_SERVICES', 'STORAGE'] })));
    expect(error.name).toBe('StorageKeyAlreadySet');
    expect(error.message).toContain(String(WS));
    expect(w.account.writes()).toEqual([]);
  });

  it('treats the same storage key as no storage change', async () => {
    const w = world({
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES']),
        keyConfig('cfg-st', NEW_KEY, ['STORAGE']),
      ],
      workspaces: [
        {
          workspace_id: WS,
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-st',
        },
      ],
    });
    const plan = await w.plan(manual({ useCases: ['MANAGED_SERVICES', 'STORAGE'] }));
    expect(plan.workspaces[0]?.changes).toEqual({ managedServices: true, storage: false });
    expect(plan.storageWaitSeconds).toBe(0);
  });

  it('rejects a workspace that is not running with WorkspaceNotRunning', async () => {
    const w = world({
      workspaces: [
        {
          workspace_id: WS,
          workspace_status: 'PROVISIONING',
          managed_services_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    const error = await rejection(w.plan(manual()));
    expect(error.name).toBe('WorkspaceNotRunning');
  });

  it.each([
    ['KeyDisabled', { state: 'Disabled' }],
    ['KeyInvalidState', { state: 'PendingDeletion' }],
    ['KeyNotSymmetric', { keySpec: 'RSA_2048' }],
    ['KeyWrongUsage', { keyUsage: 'SIGN_VERIFY' }],
  ])('rejects an unusable target key with %s', async (name, facts) => {
    const w = world({ keys: [{ keyId: OLD_KEY }, { keyId: NEW_KEY, ...facts }] });
    const error = await rejection(w.plan(manual()));
    expect(error.name).toBe(name);
    expect(error.message).toContain(arnOf(NEW_KEY));
  });

  it('rejects a key in another region than a named workspace with KeyRegionMismatch', async () => {
    const w = world({ keys: [{ keyId: OLD_KEY }, { keyId: NEW_KEY, region: 'eu-west-1' }] });
    const error = await rejection(w.plan(manual({ keyArn: arnOf(NEW_KEY, 'eu-west-1') })));
    expect(error.name).toBe('KeyRegionMismatch');
  });

  it('rejects a keyAlias that names another key than keyArn', async () => {
    const w = world({ aliasOn: OLD_KEY });
    const error = await rejection(w.plan(manual({ keyAlias: WATCHED_ALIAS })));
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('keyAlias');
  });

  it('rejects a key that does not exist with KeyNotFound', async () => {
    const w = world();
    const error = await rejection(
      w.plan(manual({ keyArn: `arn:aws:kms:us-east-1:${AWS_ACCOUNT}:key/mrk-0000` })),
    );
    expect(error.name).toBe('KeyNotFound');
  });
});
