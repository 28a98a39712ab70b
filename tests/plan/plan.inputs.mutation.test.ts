import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type PlanDeps, planRotation, STEPS_SPELLED_OUT } from '../../lib/plan/plan.ts';
import { LIMITS, type Settings } from '../../lib/settings.ts';
import {
  AWS_ACCOUNT,
  arnOf,
  FakeAccount,
  type FakeKey,
  FakeKms,
  keyConfig,
  NEW_KEY,
  OLD_KEY,
  settingsWith,
  WATCHED_ALIAS,
  workspace,
} from './fakes.ts';

/**
 * What the plan refuses or ignores before it reads a workspace or touches anything (DESIGN §3, §5, §6.10):
 * events of another deployment, keys that resolve to nothing here, starts that name no workspace, settings
 * under which a rotation could outgrow its history, and executions of more workspaces than one may carry.
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

const WS = 1234567890123456;
const WS2 = 2345678901234567;
const NOW = Date.parse('2026-11-25T16:45:00Z');
const OLD_ARN = arnOf(OLD_KEY);
const NEW_ARN = arnOf(NEW_KEY);
const OTHER_ACCOUNT = '444455556666';
const DISABLE_EVENT_ID = '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01';
const ALIAS_EVENT_ID = '2d4f6a8c-0e1b-4c3d-9e5f-7a9b1c3d5e7f';

interface World {
  keys?: FakeKey[];
  workspaces?: Parameters<typeof workspace>[0][];
  env?: Record<string, string>;
  settings?: Partial<Settings>;
}

/** WS (prod) and WS2 (dev) on the old key (managed services), the watched alias on the new key. */
function world(options: World = {}) {
  const keys = options.keys ?? [{ keyId: OLD_KEY }, { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] }];
  const configs = [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS })];
  const workspaces = (
    options.workspaces ?? [
      { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
      { workspace_id: WS2, workspace_name: 'dev', managed_services_customer_managed_key_id: 'cfg-old' },
    ]
  ).map(workspace);
  const account = new FakeAccount(workspaces, configs);
  const kms = new FakeKms(keys);
  const settings = { ...settingsWith(options.env), ...options.settings };
  return {
    account,
    kms,
    plan: (raw: unknown, deps: Partial<PlanDeps> = {}) =>
      planRotation(raw, { settings, kms, account, now: NOW, ...deps }),
  };
}

/** `count` workspaces on the old key (managed services), the first id `first`. */
function many(count: number, first = 7_000_000_000_000_000) {
  return Array.from({ length: count }, (_, i) => ({
    workspace_id: first + i,
    managed_services_customer_managed_key_id: 'cfg-old',
  }));
}

async function rejection(promise: Promise<unknown>): Promise<Error & { details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { details?: Record<string, unknown> };
  }
  throw new Error('expected a rejection');
}

/** The DisableKey fixture naming `keyArn` instead of the old key. */
function disableOf(keyArn: string): Json {
  const event = fixture('cloudtrail-disable-key');
  const detail = event.detail as Json;
  detail.requestParameters = { keyId: keyArn };
  detail.resources = [{ accountId: keyArn.split(':')[4], type: 'AWS::KMS::Key', ARN: keyArn }];
  return event;
}

describe('Plan: events that are not this deployment’s to act on', () => {
  it.each<[string, (event: Json) => void, string]>([
    [
      'carries no account',
      (e) => delete e.account,
      `event ${DISABLE_EVENT_ID} carries no account, so it cannot be attributed to this deployment's account ${AWS_ACCOUNT}; not acted on`,
    ],
    [
      'comes from another account',
      (e) => (e.account = OTHER_ACCOUNT),
      `event ${DISABLE_EVENT_ID} comes from AWS account ${OTHER_ACCOUNT}, not this deployment's account ${AWS_ACCOUNT}; not acted on`,
    ],
    [
      'carries no region',
      (e) => delete e.region,
      `event ${DISABLE_EVENT_ID} carries no region, so it cannot be attributed to this deployment's region us-east-1; not acted on`,
    ],
    [
      'comes from another region',
      (e) => (e.region = 'eu-west-1'),
      `event ${DISABLE_EVENT_ID} comes from region eu-west-1, not this deployment's region us-east-1; not acted on`,
    ],
    [
      'has no id and comes from another account',
      (e) => {
        delete e.id;
        e.account = OTHER_ACCOUNT;
      },
      `event (no id) comes from AWS account ${OTHER_ACCOUNT}, not this deployment's account ${AWS_ACCOUNT}; not acted on`,
    ],
  ])('plans nothing for an event that %s, reading and recording nothing', async (_, edit, reason) => {
    // Prepare
    const w = world();
    const event = fixture('cloudtrail-disable-key');
    edit(event);
    const recorded: string[] = [];
    // Act
    const plan = await w.plan(event, {
      recordEvent: async (id) => {
        recorded.push(id);
        return { first: true };
      },
    });
    // Assess
    expect(plan).toMatchObject({ mode: 'noop', reason, workspaces: [], target: null });
    expect(plan.trigger.kind).toBe('keyDisabled');
    expect(plan.trigger).not.toHaveProperty('keyArn');
    expect(recorded).toEqual([]);
    expect(w.kms.calls).toEqual([]);
    expect(w.account.calls).toEqual([]);
  });

  it.each([
    ['another account', `arn:aws:kms:us-east-1:${OTHER_ACCOUNT}:key/${OLD_KEY}`],
    ['another region', arnOf(OLD_KEY, 'eu-west-1')],
  ])('plans nothing for an event naming a key of %s', async (_, keyArn) => {
    // Prepare
    const w = world();
    // Act
    const plan = await w.plan(disableOf(keyArn));
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `event ${DISABLE_EVENT_ID} names ${keyArn}, which is not a key of this deployment's account ${AWS_ACCOUNT} in us-east-1; not acted on`,
      trigger: { kind: 'keyDisabled', eventId: DISABLE_EVENT_ID },
    });
    expect(w.kms.calls).toEqual([]);
  });

  it('acts on an event naming a key of this account and region by ARN', async () => {
    // Act
    const plan = await world().plan(disableOf(OLD_ARN));
    // Assess: the key is enabled again, a notice
    expect(plan.mode).toBe('noop');
    expect(plan.reason).toMatch(/^notice: DisableKey of /);
  });

  it.each<[string, Partial<Settings>, string]>([
    ['DEPLOYMENT_ACCOUNT_ID', { deploymentAccountId: undefined }, 'DEPLOYMENT_ACCOUNT_ID'],
    ['AWS_REGION', { deploymentRegion: undefined }, 'AWS_REGION'],
    ['either', { deploymentAccountId: undefined, deploymentRegion: undefined }, 'DEPLOYMENT_ACCOUNT_ID'],
  ])('refuses an event with InvalidSettings when %s is not known', async (_, settings, field) => {
    // Act
    const error = await rejection(world({ settings }).plan(fixture('cloudtrail-disable-key')));
    // Assess
    expect(error.name).toBe('InvalidSettings');
    expect(error.message).toBe(
      `setting ${field} is not set, and it is needed to check that an event belongs to this deployment`,
    );
    expect(error.details).toEqual({ field });
  });

  it('needs neither to plan a manual start', async () => {
    // Act
    const plan = await world({
      settings: { deploymentAccountId: undefined, deploymentRegion: undefined },
    }).plan({ workspaceIds: [WS], keyArn: NEW_ARN });
    // Assess
    expect(plan.mode).toBe('rotate');
  });
});

describe('Plan: an event whose key is not a key here', () => {
  const unresolved = (ref: string) =>
    `the event names key ${ref}, which does not resolve to a key of this deployment's account ${AWS_ACCOUNT} in us-east-1; not acted on`;

  it('plans nothing for a key event naming by id a key that does not exist', async () => {
    // Prepare
    const event = fixture('cloudtrail-disable-key');
    const detail = event.detail as Json;
    detail.requestParameters = { keyId: 'ffffffff-0000-1111-2222-333333333333' };
    detail.resources = [];
    const w = world();
    // Act
    const plan = await w.plan(event);
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: unresolved('ffffffff-0000-1111-2222-333333333333'),
      trigger: { kind: 'keyDisabled', eventId: DISABLE_EVENT_ID },
    });
    expect(plan.trigger).not.toHaveProperty('keyArn');
    expect(w.account.calls).toEqual([]);
  });

  it('plans nothing when the watched alias moved to a key that does not exist', async () => {
    // Prepare
    const w = world({ keys: [{ keyId: OLD_KEY }] });
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'));
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: unresolved(NEW_ARN),
      trigger: { kind: 'aliasMoved', eventId: ALIAS_EVENT_ID },
      workspaces: [],
    });
    expect(w.account.calls).toEqual([]);
  });

  it('fails rather than guess when KMS cannot say whether the key exists', async () => {
    // Prepare
    const w = world();
    const send = w.kms.send.bind(w.kms);
    w.kms.send = async (command) => {
      if (command.constructor.name === 'DescribeKey' || command.constructor.name === 'DescribeKeyCommand') {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      }
      return send(command);
    };
    // Act
    const error = await rejection(w.plan(fixture('cloudtrail-update-alias')));
    // Assess
    expect(error.name).toBe('KmsThrottled');
  });
});

describe('Plan: a manual start names its workspaces', () => {
  it.each([
    ['rotation', {}, 'rotate'],
    ['verification', { verify: true }, 'verify'],
  ])('refuses a %s naming none, saying the three ways to name them', async (_, extra, verb) => {
    // Prepare
    const w = world();
    // Act
    const error = await rejection(w.plan({ keyArn: NEW_ARN, ...extra }));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      `execution input field workspaceIds is required: name the workspaces ("workspaceIds": [1234567890123456]), set the deployment's WORKSPACE_IDS, or give "allWorkspaces": true to ${verb} every workspace of Databricks account acc-0d6c9a2e that the key concerns`,
    );
    expect(error.details).toEqual({ field: 'workspaceIds' });
    expect(w.account.calls).toEqual([]);
    expect(w.kms.calls).toEqual([]);
  });

  it('takes every workspace of the account only with "allWorkspaces": true', async () => {
    // Act
    const plan = await world().plan({ allWorkspaces: true, keyArn: NEW_ARN });
    // Assess
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS, WS2]);
  });

  it('reports an account without workspaces against allWorkspaces', async () => {
    // Act
    const error = await rejection(world({ workspaces: [] }).plan({ allWorkspaces: true, keyArn: NEW_ARN }));
    // Assess
    expect(error.name).toBe('NoWorkspacesInScope');
    expect(error.details).toEqual({ field: 'allWorkspaces' });
  });

  it('prefers the input’s workspaceIds to WORKSPACE_IDS, and WORKSPACE_IDS to allWorkspaces', async () => {
    // Prepare
    const w = world({ env: { WORKSPACE_IDS: String(WS2) } });
    // Act
    const named = await w.plan({ workspaceIds: [WS], keyArn: NEW_ARN });
    const configured = await w.plan({ allWorkspaces: true, keyArn: NEW_ARN });
    // Assess
    expect(named.workspaces.map((p) => p.workspaceId)).toEqual([WS]);
    expect(configured.workspaces.map((p) => p.workspaceId)).toEqual([WS2]);
  });
});

describe('Plan: a manual verification', () => {
  it('verifies the named workspaces that use the key, as a dry run when asked, repairing when asked', async () => {
    // Prepare
    const w = world({
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
        { workspace_id: WS2, workspace_name: 'dev' },
      ],
    });
    // Act
    const plan = await w.plan({
      verify: true,
      workspaceIds: [WS, WS2],
      keyArn: OLD_ARN,
      dryRun: true,
      repairPolicy: true,
    });
    // Assess
    expect(plan).toMatchObject({
      mode: 'verify',
      dryRun: true,
      repairPolicy: true,
      reason: `manual verification: KMS rotated the key material of ${OLD_ARN} in place (same ARN); verifying 1 workspace(s) that use it`,
      trigger: { kind: 'manual', keyArn: OLD_ARN },
      target: { keyArn: OLD_ARN, keyId: OLD_KEY, region: 'us-east-1' },
      useCases: ['MANAGED_SERVICES'],
      workspaceCount: 1,
    });
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS]);
    expect(plan.workspaces[0]?.steps[2]).toBe(
      `re-patch the key policy of ${OLD_ARN} if it no longer grants Databricks MANAGED_SERVICES`,
    );
  });

  it('names every use case of the key in the repair step', async () => {
    // Prepare
    const w = world({
      workspaces: [
        {
          workspace_id: WS,
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-old-st',
        },
      ],
    });
    w.account.keyConfigs.push(keyConfig('cfg-old-st', OLD_KEY, ['STORAGE']));
    // Act
    const plan = await w.plan({ verify: true, workspaceIds: [WS], keyArn: OLD_ARN, repairPolicy: true });
    // Assess
    expect(plan.useCases).toEqual(['MANAGED_SERVICES', 'STORAGE']);
    expect(plan.workspaces[0]?.steps[2]).toBe(
      `re-patch the key policy of ${OLD_ARN} if it no longer grants Databricks MANAGED_SERVICES and STORAGE`,
    );
  });

  it('takes REPAIR_POLICY_ON_ROTATION when the input does not say, and is no dry run unless asked', async () => {
    // Act
    const repairing = await world({ env: { REPAIR_POLICY_ON_ROTATION: 'true' } }).plan({
      verify: true,
      workspaceIds: [WS],
      keyArn: OLD_ARN,
    });
    const asked = await world({ env: { REPAIR_POLICY_ON_ROTATION: 'true' } }).plan({
      verify: true,
      workspaceIds: [WS],
      keyArn: OLD_ARN,
      repairPolicy: false,
    });
    // Assess
    expect(repairing).toMatchObject({ repairPolicy: true, dryRun: false });
    expect(asked.repairPolicy).toBe(false);
  });

  it('plans nothing when no named workspace uses the key', async () => {
    // Act
    const plan = await world().plan({ verify: true, workspaceIds: [WS, WS2], keyArn: NEW_ARN });
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `no workspace in scope uses ${NEW_ARN}; nothing to verify`,
      trigger: { kind: 'manual', keyArn: NEW_ARN },
      workspaces: [],
    });
  });
});

describe('Plan: the history budget of one workspace’s rotation', () => {
  // At STORAGE_WAIT_MINUTES=1200 the worst case is 19,781 events with a 60-minute drain, 20,105 with 240.
  const LONG_STORAGE_WAIT = { STORAGE_WAIT_MINUTES: '1200', LOCK_LEASE_MINUTES: '1205' };

  it('refuses, before anything is touched, a rotation whose drain would outgrow it', async () => {
    // Prepare
    const w = world({ env: LONG_STORAGE_WAIT });
    // Act
    const error = await rejection(
      w.plan({ workspaceIds: [WS], keyArn: NEW_ARN, activeRuns: 'wait', drainTimeoutMinutes: 240 }),
    );
    // Assess
    expect(error.name).toBe('HistoryBudgetExceeded');
    expect(error.message).toMatch(/^one workspace's rotation could write 20105 execution history events/);
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });

  it('lets the same rotation through with the default drain', async () => {
    // Act
    const plan = await world({ env: LONG_STORAGE_WAIT }).plan({ workspaceIds: [WS], keyArn: NEW_ARN });
    // Assess
    expect(plan.mode).toBe('rotate');
  });

  it('refuses an alias move under settings that could outgrow it', async () => {
    // Act
    const error = await rejection(
      world({ env: { STORAGE_WAIT_MINUTES: '1440', LOCK_LEASE_MINUTES: '1445' } }).plan(
        fixture('cloudtrail-update-alias'),
      ),
    );
    // Assess
    expect(error.name).toBe('HistoryBudgetExceeded');
  });
});

describe('Plan: at most LIMITS.workspaceIds workspaces in one execution', () => {
  const over = LIMITS.workspaceIds + 1;

  it('tells a manual start to name them in batches', async () => {
    // Prepare
    const w = world({ workspaces: many(over) });
    // Act
    const error = await rejection(w.plan({ allWorkspaces: true, keyArn: NEW_ARN }));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      `manual request: rotating to ${NEW_ARN} would take ${over} workspaces into one execution; at most ${LIMITS.workspaceIds} fit (Step Functions' 256 KB state and 25,000-event history), so nothing was touched. To go on, name them in batches of at most ${LIMITS.workspaceIds} ("workspaceIds": [...]) and start one execution per batch.`,
    );
  });

  it('tells an event’s deployment to narrow WORKSPACE_IDS and start the others by hand', async () => {
    // Prepare
    const w = world({ workspaces: many(over) });
    // Act
    const error = await rejection(w.plan(fixture('kms-cmk-rotation')));
    // Assess
    expect(error.name).toBe('InvalidInput');
    expect(error.message).toBe(
      `verifying ${OLD_ARN} would take ${over} workspaces into one execution; at most ${LIMITS.workspaceIds} fit (Step Functions' 256 KB state and 25,000-event history), so nothing was touched. To go on, set the deployment's WORKSPACE_IDS to at most ${LIMITS.workspaceIds} of them, and start manual executions naming the others in batches of at most ${LIMITS.workspaceIds} ("workspaceIds": [...]).`,
    );
    expect(error.details).toEqual({
      field: 'WORKSPACE_IDS',
      workspaceCount: over,
      limit: LIMITS.workspaceIds,
    });
  });
});

describe('Plan: the size of a rotation plan', () => {
  it('spells out the steps of the first workspaces only, and shares the result budget among all', async () => {
    // Prepare
    const workspaces = many(40);
    const w = world({ workspaces });
    // Act
    const plan = await w.plan({ workspaceIds: workspaces.map((x) => x.workspace_id), keyArn: NEW_ARN });
    // Assess
    expect(plan.workspaceCount).toBe(40);
    expect(plan.resultBudgetBytes).toBe(3750);
    expect(plan.workspaces.map((p) => p.steps.length > 0)).toEqual(
      Array.from({ length: 40 }, (_, i) => i < STEPS_SPELLED_OUT),
    );
    expect(plan.workspaces[STEPS_SPELLED_OUT - 1]?.steps).toHaveLength(9);
    expect(plan.workspaces[STEPS_SPELLED_OUT]?.steps).toEqual([]);
  });

  it('says a dry run that changes nothing is a dry run', async () => {
    // Prepare
    const w = world({
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-new' },
      ],
    });
    w.account.keyConfigs.push(keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES']));
    // Act
    const plan = await w.plan({ workspaceIds: [WS], keyArn: NEW_ARN, dryRun: true });
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      dryRun: true,
      reason: `dry run: manual request: nothing to change; left out: ${WS} (prod) already uses ${NEW_ARN} for MANAGED_SERVICES`,
    });
  });
});
