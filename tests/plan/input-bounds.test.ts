import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemorySnapshotStore } from '../../lib/compute/snapshot-store.ts';
import { parseKmsArn } from '../../lib/kms/key.ts';
import { planRotation, STEPS_SPELLED_OUT } from '../../lib/plan/plan.ts';
import { INLINE_PLAN_WORKSPACES, loadFullPlan, storeLongPlan } from '../../lib/plan/stored.ts';
import { parseTrigger } from '../../lib/plan/trigger.ts';
import { type Plan, PlanSchema } from '../../lib/rotation.ts';
import { LIMITS } from '../../lib/settings.ts';
import { verifyKeyUse } from '../../lib/verify.ts';
import {
  AWS_ACCOUNT,
  arnOf,
  FakeAccount,
  FakeKms,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  WATCHED_ALIAS,
  workspace,
} from './fakes.ts';

/**
 * Input bounds of the plan step (DESIGN §1, §5, §6.8, §6.10): how many workspaces one execution may carry,
 * how large a verification plan is in the state, which failed CloudTrail calls are no-ops, the shortest
 * old-key retention and which ARN partitions exist.
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));
const NOW = Date.parse('2026-11-25T16:45:00Z');
const EXECUTION = 'arn:aws:states:us-east-1:111122223333:execution:rotate-workspace-key:verify-1';
const FIRST_ID = 3_000_000_000_000_000;

/** A configuration id as Databricks makes them (a UUID), so sizes are those of a real account. */
const configId = (n: number) => `${n.toString(16).padStart(8, '0')}-1b2c-4d5e-8f90-123456789abc`;

/** `count` running workspaces with realistic names, each on its own configuration of `keyId`. */
function account(count: number, keyId = OLD_KEY, options: { alias?: string } = {}) {
  const configs = Array.from({ length: count }, (_, i) =>
    keyConfig(configId(i), keyId, ['MANAGED_SERVICES'], {
      creation_time: NOW - 400 * 24 * 3_600_000,
      ...(options.alias ? { key_alias: options.alias } : {}),
    }),
  );
  const workspaces = Array.from({ length: count }, (_, i) =>
    workspace({
      workspace_id: FIRST_ID + i,
      workspace_name: `analytics-emea-production-team-${String(i).padStart(4, '0')}`,
      deployment_name: `dbc-${(0xa1b2c3d4 + i).toString(16)}-${String(i).padStart(4, '0')}`,
      managed_services_customer_managed_key_id: configId(i),
    }),
  );
  return new FakeAccount(workspaces, configs);
}

function world(count: number, env: Record<string, string> = {}, options: { alias?: string } = {}) {
  const acc = account(count, OLD_KEY, options);
  const kms = new FakeKms([{ keyId: OLD_KEY }, { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] }]);
  const settings = settingsWith({ DEPLOYMENT_ACCOUNT_ID: AWS_ACCOUNT, AWS_REGION: 'us-east-1', ...env });
  return {
    account: acc,
    kms,
    plan: (raw: unknown) => planRotation(raw, { settings, kms, account: acc, now: NOW }),
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

function thrown(act: () => unknown): Error & { details?: Record<string, unknown> } {
  try {
    act();
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected an error');
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');
const ids = (count: number) => Array.from({ length: count }, (_, i) => FIRST_ID + i);

describe('a verification plan fits the 256 KB state however many workspaces share the key', () => {
  it('spells out the steps of the first workspaces only', async () => {
    // Prepare
    const w = world(50);
    // Act
    const plan = await w.plan({ verify: true, keyArn: arnOf(OLD_KEY), workspaceIds: ids(50) });
    // Assess
    expect(plan.mode).toBe('verify');
    expect(plan.workspaces).toHaveLength(50);
    expect(plan.workspaces.filter((p) => p.steps.length > 0)).toHaveLength(STEPS_SPELLED_OUT);
    expect(plan.workspaces[0]?.steps).toContain('touch no compute (no downtime)');
    expect(plan.workspaces[STEPS_SPELLED_OUT]?.steps).toEqual([]);
  });

  it('carries only the workspace ids of a 1,000-workspace verification in the state (< 40 KB), storing the rest', async () => {
    // Prepare
    const w = world(LIMITS.workspaceIds);
    const plan = await w.plan({
      verify: true,
      keyArn: arnOf(OLD_KEY),
      workspaceIds: ids(LIMITS.workspaceIds),
    });
    const store = new MemorySnapshotStore();
    // Act
    const carried = await storeLongPlan(plan, store, EXECUTION);
    // Assess
    expect(carried).toMatchObject({ mode: 'verify', workspaces: [], workspaceCount: LIMITS.workspaceIds });
    expect(carried.workspaceIds).toEqual(ids(LIMITS.workspaceIds));
    expect(carried.planLocation?.key).toBe('plans/verify-1.json');
    expect(bytes(carried)).toBeLessThan(40_000);
    expect(PlanSchema.safeParse(carried).success).toBe(true);
  });

  it('gives the verification every stored workspace back (loadFullPlan)', async () => {
    // Prepare
    const w = world(INLINE_PLAN_WORKSPACES + 1);
    const plan = await w.plan({
      verify: true,
      keyArn: arnOf(OLD_KEY),
      workspaceIds: ids(INLINE_PLAN_WORKSPACES + 1),
    });
    const store = new MemorySnapshotStore();
    const carried = await storeLongPlan(plan, store, EXECUTION);
    // Act
    const full = await loadFullPlan(carried, store);
    // Assess
    expect(carried.workspaces).toEqual([]);
    expect(full).toEqual(plan);
  });

  it('keeps a verification of up to 100 workspaces inline, well under the state limit', async () => {
    // Prepare
    const w = world(INLINE_PLAN_WORKSPACES);
    const plan = await w.plan({
      verify: true,
      keyArn: arnOf(OLD_KEY),
      workspaceIds: ids(INLINE_PLAN_WORKSPACES),
    });
    const store = new MemorySnapshotStore();
    // Act
    const carried = await storeLongPlan(plan, store, EXECUTION);
    // Assess
    expect(carried).toBe(plan);
    expect(await loadFullPlan(carried, store)).toBe(plan);
    expect(bytes(carried)).toBeLessThan(100_000);
  });

  it('stores the verification a KMS CMK Rotation of a key shared by 600 workspaces plans', async () => {
    // Prepare
    const w = world(600);
    const plan = await w.plan(fixture('kms-cmk-rotation'));
    // Act
    const carried = await storeLongPlan(plan, new MemorySnapshotStore(), EXECUTION);
    // Assess
    expect(plan).toMatchObject({ mode: 'verify', workspaceCount: 600 });
    expect(carried.workspaceIds).toHaveLength(600);
    expect(bytes(carried)).toBeLessThan(30_000);
  });

  it('verifies every workspace of a stored verification once loaded in full (functions/verify.ts must load it)', async () => {
    // Prepare: the grant Databricks needs is in the key policy, so every workspace verifies as sound
    const w = world(INLINE_PLAN_WORKSPACES + 1);
    const settings = settingsWith({ DEPLOYMENT_ACCOUNT_ID: AWS_ACCOUNT, AWS_REGION: 'us-east-1' });
    const key = w.kms.keys.find((k) => k.keyId === OLD_KEY) as { policy?: string };
    key.policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'Allow Databricks to use KMS key for managed services in the control plane',
          Effect: 'Allow',
          Principal: { AWS: settings.databricksPrincipalArn },
          Action: ['kms:Encrypt', 'kms:Decrypt'],
          Resource: '*',
          Condition: { StringEquals: { 'aws:PrincipalTag/DatabricksAccountId': settings.policyAccountIds } },
        },
      ],
    });
    const plan = await w.plan({
      verify: true,
      keyArn: arnOf(OLD_KEY),
      workspaceIds: ids(INLINE_PLAN_WORKSPACES + 1),
    });
    const store = new MemorySnapshotStore();
    const carried = await storeLongPlan(plan, store, EXECUTION);
    // Act
    const result = await verifyKeyUse(await loadFullPlan(carried, store), {
      account: w.account,
      kms: w.kms,
      settings,
    });
    // Assess
    expect(result.workspaces.map((r) => r.workspaceId)).toEqual(ids(INLINE_PLAN_WORKSPACES + 1));
  });

  it('refuses a stored plan that no longer lists the workspaces the execution planned', async () => {
    // Prepare
    const w = world(INLINE_PLAN_WORKSPACES + 1);
    const plan = await w.plan({
      verify: true,
      keyArn: arnOf(OLD_KEY),
      workspaceIds: ids(INLINE_PLAN_WORKSPACES + 1),
    });
    const store = new MemorySnapshotStore();
    const carried = await storeLongPlan(plan, store, EXECUTION);
    await store.putDocument('plans/verify-1.json', { ...plan, workspaces: plan.workspaces.slice(1) });
    // Act
    const error = await rejection(loadFullPlan(carried, store));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toContain(
      `lists ${INLINE_PLAN_WORKSPACES} workspace(s), not the ${INLINE_PLAN_WORKSPACES + 1}`,
    );
  });

  it('refuses a stored plan that is gone instead of verifying no workspace', async () => {
    // Prepare
    const carried = { planLocation: { key: 'plans/gone.json', where: 'memory' }, workspaceIds: [1] } as Plan;
    // Act
    const error = await rejection(loadFullPlan(carried, new MemorySnapshotStore()));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toContain('does not exist');
  });
});

describe('one execution carries at most LIMITS.workspaceIds workspaces, whatever names them', () => {
  const over = LIMITS.workspaceIds + 1;

  it('refuses "allWorkspaces": true reaching more, naming the count, the limit and how to split, before any write', async () => {
    // Prepare
    const w = world(over);
    // Act
    const error = await rejection(w.plan({ allWorkspaces: true, keyArn: arnOf(NEW_KEY) }));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toEqual({
      field: 'allWorkspaces',
      workspaceCount: over,
      limit: LIMITS.workspaceIds,
    });
    expect(error.message).toContain(`${over} workspaces`);
    expect(error.message).toContain(`at most ${LIMITS.workspaceIds}`);
    expect(error.message).toContain('batches');
    expect(error.message.length).toBeLessThan(1_000);
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });

  it('refuses a dry run of as many too (it would say what a real run cannot do)', async () => {
    // Prepare
    const w = world(over);
    // Act
    const error = await rejection(w.plan({ allWorkspaces: true, keyArn: arnOf(NEW_KEY), dryRun: true }));
    // Assess
    expect(error.name).toBe('InvalidInput');
  });

  it('plans exactly the limit', async () => {
    // Prepare
    const w = world(LIMITS.workspaceIds);
    // Act
    const plan = await w.plan({ allWorkspaces: true, keyArn: arnOf(NEW_KEY), dryRun: true });
    // Assess
    expect(plan).toMatchObject({ mode: 'rotate', workspaceCount: LIMITS.workspaceIds });
  });

  it('counts the workspaces that change key, not those that already use the target', async () => {
    // Prepare: 1,500 workspaces of which 600 are already on the target key
    const w = world(1_500);
    const onTarget = keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES']);
    w.account.keyConfigs.push(onTarget);
    for (const ws of w.account.workspaces.slice(0, 600))
      ws.managed_services_customer_managed_key_id = 'cfg-new';
    // Act
    const plan = await w.plan({ allWorkspaces: true, keyArn: arnOf(NEW_KEY), dryRun: true });
    // Assess
    expect(plan.workspaceCount).toBe(900);
  });

  it('refuses a verification ("verify": true) reaching more', async () => {
    // Prepare
    const w = world(over);
    // Act
    const error = await rejection(w.plan({ verify: true, allWorkspaces: true, keyArn: arnOf(OLD_KEY) }));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toMatchObject({ field: 'allWorkspaces', workspaceCount: over });
  });

  it('refuses a KMS CMK Rotation of a key more workspaces share, pointing at WORKSPACE_IDS', async () => {
    // Prepare
    const w = world(over);
    // Act
    const error = await rejection(w.plan(fixture('kms-cmk-rotation')));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toEqual({
      field: 'WORKSPACE_IDS',
      workspaceCount: over,
      limit: LIMITS.workspaceIds,
    });
    expect(error.message).toContain('WORKSPACE_IDS');
  });

  it('refuses an alias move reaching 1,500 workspaces registered under the alias, before any write', async () => {
    // Prepare
    const w = world(1_500, {}, { alias: WATCHED_ALIAS });
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-update-alias')));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details).toMatchObject({ field: 'WORKSPACE_IDS', workspaceCount: 1_500 });
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });
});

describe('a CloudTrail call that failed (errorCode set) is a no-op, whatever else it lacks', () => {
  /** The fixture as a failed call: errorCode set, no response, no resources, then `edit`. */
  const failed = (name: string, edit: (d: Json) => void, errorCode = 'ValidationException') => {
    const event = fixture(name);
    const detail = event.detail as Json;
    detail.errorCode = errorCode;
    detail.responseElements = null;
    delete detail.resources;
    edit(detail);
    return event;
  };

  it.each<[string, Json, string]>([
    [
      'DisableKey with null requestParameters',
      failed('cloudtrail-disable-key', (d) => (d.requestParameters = null)),
      'the DisableKey call failed (ValidationException); the key did not change',
    ],
    [
      'DisableKey with an empty key id',
      failed('cloudtrail-disable-key', (d) => (d.requestParameters = { keyId: '' })),
      'the DisableKey call failed (ValidationException); the key did not change',
    ],
    [
      'DisableKey with a key id holding spaces',
      failed('cloudtrail-disable-key', (d) => (d.requestParameters = { keyId: 'my key' })),
      'the DisableKey call failed (ValidationException); the key did not change',
    ],
    [
      'ScheduleKeyDeletion without key id',
      failed(
        'cloudtrail-schedule-key-deletion',
        (d) => (d.requestParameters = { pendingWindowInDays: 7 }),
        'AccessDenied',
      ),
      'the ScheduleKeyDeletion call failed (AccessDenied); the key did not change',
    ],
    [
      'UpdateAlias without targetKeyId',
      failed('cloudtrail-update-alias', (d) => (d.requestParameters = { aliasName: WATCHED_ALIAS })),
      `the alias change of ${WATCHED_ALIAS} failed (ValidationException); nothing changed`,
    ],
    [
      'UpdateAlias with a malformed alias name',
      failed(
        'cloudtrail-update-alias',
        (d) => (d.requestParameters = { aliasName: 'databricks managed', targetKeyId: 'x' }),
      ),
      'the alias change of (alias not named; UpdateAlias) failed (ValidationException); nothing changed',
    ],
  ])('%s: noop saying the call failed, nothing read or written', async (_, event, reason) => {
    // Prepare
    const w = world(2);
    // Act
    const plan = await w.plan(event);
    // Assess
    expect(plan).toMatchObject({ mode: 'noop', reason, workspaces: [] });
    expect(plan.trigger).not.toHaveProperty('keyArn');
    expect(w.kms.calls).toEqual([]);
    expect(w.account.calls).toEqual([]);
  });

  it('keeps the key a failed call names, when well formed', () => {
    // Prepare
    const event = failed('cloudtrail-disable-key', (d) => (d.requestParameters = { keyId: arnOf(OLD_KEY) }));
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toMatchObject({
      kind: 'keyDisabled',
      eventName: 'DisableKey',
      failedWith: 'ValidationException',
      keyRef: arnOf(OLD_KEY),
    });
  });

  it('names no key for a failed call whose key id is malformed, rather than refusing the event', () => {
    // Prepare
    const event = failed('cloudtrail-disable-key', (d) => (d.requestParameters = { keyId: '../etc' }));
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger).toMatchObject({
      kind: 'keyDisabled',
      failedWith: 'ValidationException',
      keyRef: undefined,
    });
  });

  it('still refuses a failed call whose envelope is malformed, naming the field', () => {
    // Prepare
    const event = failed('cloudtrail-disable-key', (d) => (d.requestParameters = null));
    event.account = 'me';
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('account');
  });

  it('treats a failed call of another account as foreign first', async () => {
    // Prepare
    const event = failed('cloudtrail-disable-key', (d) => (d.requestParameters = null));
    event.account = '999999999999';
    const w = world(2);
    // Act
    const plan = await w.plan(event);
    // Assess
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toContain('comes from AWS account 999999999999');
  });

  it('does not record a failed call as a handled event (nothing was handled)', async () => {
    // Prepare
    const w = world(2);
    const recorded: string[] = [];
    const settings = settingsWith({ DEPLOYMENT_ACCOUNT_ID: AWS_ACCOUNT, AWS_REGION: 'us-east-1' });
    // Act
    const plan = await planRotation(
      failed('cloudtrail-disable-key', (d) => (d.requestParameters = null)),
      {
        settings,
        kms: w.kms,
        account: w.account,
        now: NOW,
        recordEvent: async (id) => {
          recorded.push(id);
          return { first: true };
        },
      },
    );
    // Assess
    expect(plan.mode).toBe('noop');
    expect(recorded).toEqual([]);
  });

  it('still plans a call without errorCode as before', async () => {
    // Prepare
    const w = world(2);
    // Act
    const plan = await w.plan(fixture('cloudtrail-disable-key'));
    // Assess
    expect(plan.reason).not.toContain('failed');
  });
});

describe('the old key is kept at least 24 hours (DESIGN §1: Databricks needs it that long)', () => {
  const manual = (hours: unknown) => ({
    workspaceIds: [FIRST_ID],
    keyArn: arnOf(NEW_KEY),
    oldKeyRetentionHours: hours,
  });

  it.each([0, 1, 23.5, 23.999])('refuses oldKeyRetentionHours %s, naming the field and why', (hours) => {
    // Act
    const error = thrown(() => parseTrigger(manual(hours)));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('oldKeyRetentionHours');
    expect(error.message).toContain(
      'must be at least 24 (hours): Databricks needs the old key for at least 24 h',
    );
  });

  it.each([24, 24.5, 720])('accepts oldKeyRetentionHours %s', (hours) => {
    // Act & Assess
    expect(parseTrigger(manual(hours))).toMatchObject({
      kind: 'manual',
      input: { oldKeyRetentionHours: hours },
    });
  });

  it.each(['0', '1', '23.5'])(
    'refuses the setting OLD_KEY_RETENTION_HOURS=%s, naming it and why',
    (value) => {
      // Act
      const error = thrown(() => settingsWith({ OLD_KEY_RETENTION_HOURS: value }));
      // Assess
      expect(error.name).toBe('InvalidSettings');
      expect(error.details?.field).toBe('OLD_KEY_RETENTION_HOURS');
      expect(error.message).toContain('must be at least 24 (hours)');
    },
  );

  it('defaults the setting to 24 and accepts 24', () => {
    // Act & Assess
    expect(settingsWith().oldKeyRetentionHours).toBe(24);
    expect(settingsWith({ OLD_KEY_RETENTION_HOURS: '24' }).oldKeyRetentionHours).toBe(24);
  });
});

describe('ARNs of the real AWS partitions only', () => {
  const PARTITIONS = [
    'aws',
    'aws-cn',
    'aws-us-gov',
    'aws-iso',
    'aws-iso-b',
    'aws-iso-e',
    'aws-iso-f',
    'aws-eusc',
  ];
  const keyArnIn = (partition: string) => `arn:${partition}:kms:us-east-1:${AWS_ACCOUNT}:key/${NEW_KEY}`;

  it.each(PARTITIONS)('accepts a key ARN of partition %s', (partition) => {
    // Act & Assess
    expect(parseKmsArn(keyArnIn(partition))).toMatchObject({ partition, kind: 'key', name: NEW_KEY });
    expect(parseTrigger({ workspaceIds: [FIRST_ID], keyArn: keyArnIn(partition) }).kind).toBe('manual');
  });

  it.each(['awsfoo', 'aws-', 'aws-foo', 'aws-iso-z', 'AWS', 'aws-cn-x', ''])(
    'refuses partition "%s" as a malformed keyArn, before KMS is asked',
    async (partition) => {
      // Prepare
      const w = world(1);
      // Act
      const error = await rejection(w.plan({ workspaceIds: [FIRST_ID], keyArn: keyArnIn(partition) }));
      // Assess
      expect(parseKmsArn(keyArnIn(partition))).toBeUndefined();
      expect(error.name).toBe('InvalidInput');
      expect(error.details?.field).toBe('keyArn');
      expect(w.kms.calls).toEqual([]);
    },
  );

  it('refuses an event whose key-id is an ARN of a made-up partition, naming the field', () => {
    // Prepare
    const event = fixture('kms-cmk-rotation');
    event.resources = [];
    (event.detail as Json)['key-id'] = keyArnIn('awsfoo');
    // Act
    const error = thrown(() => parseTrigger(event));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.details?.field).toBe('detail.key-id');
  });

  it('does not take a resource ARN of a made-up partition for the key', () => {
    // Prepare
    const event = fixture('kms-cmk-rotation');
    event.resources = [keyArnIn('awsfoo')];
    // Act
    const trigger = parseTrigger(event);
    // Assess
    expect(trigger.kind !== 'manual' && trigger.keyRef).not.toBe(keyArnIn('awsfoo'));
  });
});
