import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../../lib/lock/events.ts';
import { LOCK_WAIT_MINUTES, type PlanDeps, planRotation, rotationPlan } from '../../lib/plan/plan.ts';
import { PlanSchema } from '../../lib/rotation.ts';
import {
  AWS_ACCOUNT,
  arnOf,
  defaultPolicy,
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
 * What a plan does with what earlier executions left behind (DESIGN §4, §6.6): compute an earlier execution
 * left stopped on a workspace that already uses the target key, workspaces another execution holds, events
 * already handled; and the refusals made before anything is touched (a Deny for Databricks, DESIGN §6.9).
 */

const FIXTURES = new URL('../fixtures/events/', import.meta.url);
type Json = Record<string, unknown>;
const fixture = (name: string): Json => JSON.parse(readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8'));

const WS = 1234567890123456;
const WS2 = 2345678901234567;
const WS3 = 3456789012345678;
const HOUR = 3_600_000;
const MINUTE = 60_000;
const NOW = Date.parse('2026-11-25T16:45:00Z');
const OLD_ARN = arnOf(OLD_KEY);
const NEW_ARN = arnOf(NEW_KEY);
const ALIAS_EVENT_ID = '2d4f6a8c-0e1b-4c3d-9e5f-7a9b1c3d5e7f';
const DISABLE_EVENT_ID = '3f1d6c2a-8b47-4f0e-9d2b-5e6a7c8d9e01';
const SNAPSHOT = (id: number) => `snapshots/${id}/rotate-workspace-key-exec-1.json`;

interface World {
  keys?: FakeKey[];
  workspaces?: Parameters<typeof workspace>[0][];
  configs?: ReturnType<typeof keyConfig>[];
  env?: Record<string, string>;
  deps?: Partial<PlanDeps>;
}

/**
 * WS (prod) already on the new key, WS2 (dev) on the old one (managed services), the watched alias on the
 * new key; `deps` adds the lookups the plan step gives (open snapshots, locks, handled events).
 */
function world(options: World = {}) {
  const keys = options.keys ?? [{ keyId: OLD_KEY }, { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] }];
  const configs = options.configs ?? [
    keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], {
      key_alias: WATCHED_ALIAS,
      creation_time: NOW - 30 * 24 * HOUR,
    }),
    keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], {
      key_alias: WATCHED_ALIAS,
      creation_time: NOW - 2 * HOUR,
    }),
  ];
  const workspaces = (
    options.workspaces ?? [
      { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-new' },
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
    plan: (raw: unknown, deps: Partial<PlanDeps> = {}) =>
      planRotation(raw, { settings, kms, account, now: NOW, ...options.deps, ...deps }),
  };
}

/** An open-snapshot lookup that finds one for the workspaces of `open`, recording every id asked. */
function snapshots(open: readonly number[]) {
  const asked: number[] = [];
  return {
    asked,
    openSnapshot: async (id: number) => {
      asked.push(id);
      return open.includes(id) ? { snapshotKey: SNAPSHOT(id) } : undefined;
    },
  };
}

/** A lock table where the workspaces of `held` are held by `holder`, recording every id asked. */
function locks(held: readonly number[], holder = 'exec-other') {
  const asked: number[] = [];
  return {
    asked,
    lockHolder: async (id: number) => {
      asked.push(id);
      return held.includes(id) ? holder : undefined;
    },
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

const manual = (extra: Json = {}): Json => ({ workspaceIds: [WS, WS2], keyArn: NEW_ARN, ...extra });

const RESTORE_STEP = (id: number) =>
  `already uses ${NEW_ARN}: nothing to change, but an earlier execution left its compute stopped; restore what its snapshot ${SNAPSHOT(id)} lists`;

describe('Plan: a workspace whose compute an earlier execution left stopped', () => {
  it('plans only the restore of a workspace that already uses the target key, beside the normal rotation of the others', async () => {
    // Prepare
    const w = world();
    const lookup = snapshots([WS]);
    // Act
    const plan = await w.plan(manual(), { openSnapshot: lookup.openSnapshot });
    // Assess
    expect(plan).toMatchObject({
      mode: 'rotate',
      workspaceCount: 2,
      reason: `manual request: rotating 2 workspace(s) to ${NEW_ARN} (1 already on it: only the compute an earlier execution left stopped is restored)`,
      storageWaitSeconds: 0,
      oldKeyArns: [OLD_ARN],
    });
    expect(plan.workspaces[0]).toEqual({
      workspaceId: WS,
      workspaceName: 'prod',
      deploymentName: `dep-${WS}`,
      region: 'us-east-1',
      current: {
        managedServicesKeyConfigId: 'cfg-new',
        storageKeyConfigId: null,
        managedServicesKeyArn: NEW_ARN,
        storageKeyArn: null,
      },
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      restoreOnly: true,
      leftStoppedSnapshot: SNAPSHOT(WS),
      steps: [RESTORE_STEP(WS)],
    });
    expect(plan.workspaces[1]).toMatchObject({
      workspaceId: WS2,
      changes: { managedServices: true, storage: false },
      storageAdded: false,
    });
    expect(plan.workspaces[1]).not.toHaveProperty('restoreOnly');
    expect(plan.workspaces[1]).not.toHaveProperty('leftStoppedSnapshot');
    expect(lookup.asked).toEqual([WS, WS2]);
    expect(PlanSchema.parse(plan)).toEqual(plan);
  });

  it('plans a rotation of the restore alone when every workspace already uses the key, listing no old key', async () => {
    // Prepare
    const w = world();
    // Act
    const plan = await w.plan(manual({ workspaceIds: [WS] }), snapshots([WS]));
    // Assess
    expect(plan).toMatchObject({
      mode: 'rotate',
      workspaceCount: 1,
      resultBudgetBytes: 5000,
      reason: `manual request: rotating 1 workspace(s) to ${NEW_ARN} (all already on it: only the compute an earlier execution left stopped is restored)`,
      oldKeyArns: [],
      storageWaitSeconds: 0,
    });
    expect(plan.workspaces.map((p) => [p.workspaceId, p.restoreOnly, p.leftStoppedSnapshot])).toEqual([
      [WS, true, SNAPSHOT(WS)],
    ]);
  });

  it('leaves out, as before, a workspace on the key that no execution left stopped', async () => {
    // Prepare
    const w = world();
    const lookup = snapshots([]);
    // Act
    const plan = await w.plan(manual(), { openSnapshot: lookup.openSnapshot });
    // Assess
    expect(plan.reason).toBe(
      `manual request: rotating 1 workspace(s) to ${NEW_ARN}; left out: ${WS} (prod) already uses ${NEW_ARN} for MANAGED_SERVICES`,
    );
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS2]);
    expect(lookup.asked).toEqual([WS, WS2]);
  });

  it('plans nothing when the only workspace is on the key and nothing was left stopped', async () => {
    // Act
    const plan = await world().plan(manual({ workspaceIds: [WS] }), snapshots([WS2]));
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `manual request: nothing to change; left out: ${WS} (prod) already uses ${NEW_ARN} for MANAGED_SERVICES`,
      workspaces: [],
    });
  });

  it('restores a workspace left stopped after a storage key was added, needing no second storage wait', async () => {
    // Prepare: WS got its storage key from the earlier execution, which failed before restoring
    const w = world({
      configs: [
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES', 'STORAGE'], { creation_time: NOW - HOUR }),
      ],
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
    const plan = await w.plan(
      manual({ workspaceIds: [WS], useCases: ['MANAGED_SERVICES', 'STORAGE'] }),
      snapshots([WS]),
    );
    // Assess
    expect(plan).toMatchObject({ mode: 'rotate', storageWaitSeconds: 0, oldKeyArns: [] });
    expect(plan.workspaces[0]).toMatchObject({
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      restoreOnly: true,
    });
  });

  it('says in a dry run that it would restore, touching nothing', async () => {
    // Act
    const plan = await world().plan(manual({ workspaceIds: [WS], dryRun: true }), snapshots([WS]));
    // Assess
    expect(plan).toMatchObject({
      mode: 'rotate',
      dryRun: true,
      reason: `dry run, nothing changed: manual request: would rotate 1 workspace(s) to ${NEW_ARN} (all already on it: only the compute an earlier execution left stopped is restored)`,
    });
    expect(plan.workspaces[0]?.restoreOnly).toBe(true);
  });

  it('looks every workspace up once, at most 16 at a time, and gives each its own snapshot', async () => {
    // Prepare: 40 workspaces already on the new key; three of them left stopped, in different batches
    const ids = Array.from({ length: 40 }, (_, i) => 4_000_000_000_000_000 + i);
    const w = world({
      workspaces: ids.map((id) => ({
        workspace_id: id,
        managed_services_customer_managed_key_id: 'cfg-new',
      })),
    });
    const open = [ids[3], ids[17], ids[39]] as number[];
    const asked: number[] = [];
    let inFlight = 0;
    let most = 0;
    const openSnapshot = async (id: number) => {
      asked.push(id);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      return open.includes(id) ? { snapshotKey: SNAPSHOT(id) } : undefined;
    };
    // Act
    const plan = await w.plan(manual({ workspaceIds: ids }), { openSnapshot });
    // Assess
    expect(asked).toEqual(ids);
    expect(most).toBe(16);
    expect(plan.workspaces.map((p) => [p.workspaceId, p.leftStoppedSnapshot])).toEqual(
      open.map((id) => [id, SNAPSHOT(id)]),
    );
  });

  it('plans the restore when the watched alias moves to the key a configured workspace already uses', async () => {
    // Prepare
    const w = world({ env: { WORKSPACE_IDS: `${WS},${WS2}` } });
    const lookup = snapshots([WS]);
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'), { openSnapshot: lookup.openSnapshot });
    // Assess
    expect(plan).toMatchObject({
      mode: 'rotate',
      trigger: { kind: 'aliasMoved', eventId: ALIAS_EVENT_ID, keyArn: NEW_ARN },
      reason: `watched alias ${WATCHED_ALIAS} now points at ${NEW_ARN}: rotating 2 workspace(s) to ${NEW_ARN} (1 already on it: only the compute an earlier execution left stopped is restored)`,
    });
    expect(plan.workspaces.map((p) => [p.workspaceId, p.restoreOnly ?? false])).toEqual([
      [WS, true],
      [WS2, false],
    ]);
    expect(lookup.asked).toEqual([WS, WS2]);
  });

  it('looks up only the workspaces registered under a moved alias when no workspaces are configured', async () => {
    // Prepare: WS3 follows no alias
    const w = world({
      configs: [
        keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS }),
        keyConfig('cfg-new', NEW_KEY, ['MANAGED_SERVICES'], { key_alias: WATCHED_ALIAS }),
        keyConfig('cfg-plain', NEW_KEY, ['MANAGED_SERVICES']),
      ],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-new' },
        { workspace_id: WS2, workspace_name: 'dev', managed_services_customer_managed_key_id: 'cfg-old' },
        { workspace_id: WS3, workspace_name: 'lab', managed_services_customer_managed_key_id: 'cfg-plain' },
      ],
    });
    const lookup = snapshots([WS, WS3]);
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'), { openSnapshot: lookup.openSnapshot });
    // Assess
    expect(lookup.asked).toEqual([WS, WS2]);
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS, WS2]);
  });

  it('skips, when called without the lookups, a workspace that already uses the key', () => {
    // Prepare: rotationPlan called directly, without the optional leftStopped
    const settings = settingsWith();
    const views = [
      {
        workspace: workspace({ workspace_id: WS, workspace_name: 'prod' }),
        region: 'us-east-1',
        managedServices: undefined,
        storage: undefined,
        managedServicesKeyArn: NEW_ARN,
        storageKeyArn: null,
      },
    ];
    // Act
    const plan = rotationPlan(views, settings, {
      trigger: { kind: 'manual', keyArn: NEW_ARN },
      target: {
        keyId: NEW_KEY,
        arn: NEW_ARN,
        region: 'us-east-1',
        state: 'Enabled',
        keySpec: 'SYMMETRIC_DEFAULT',
        keyUsage: 'ENCRYPT_DECRYPT',
      },
      targetAlias: undefined,
      useCases: ['MANAGED_SERVICES'],
      reuseKeyForClusterVolumes: true,
      activeRuns: 'wait',
      drainTimeoutMinutes: 60,
      oldKeyRetentionHours: 24,
      dryRun: false,
      emergency: false,
      maxConcurrency: 4,
      why: 'manual request',
      explicit: true,
    });
    // Assess
    expect(plan).toMatchObject({
      mode: 'noop',
      reason: `manual request: nothing to change; left out: ${WS} (prod) already uses ${NEW_ARN} for MANAGED_SERVICES`,
      workspaces: [],
    });
  });

  it('looks nothing up for a verification, which stops no compute', async () => {
    // Prepare
    const lookup = snapshots([WS]);
    // Act
    const plan = await world().plan(
      { verify: true, workspaceIds: [WS], keyArn: NEW_ARN },
      { openSnapshot: lookup.openSnapshot },
    );
    // Assess
    expect(plan.mode).toBe('verify');
    expect(plan.workspaces[0]).not.toHaveProperty('restoreOnly');
    expect(lookup.asked).toEqual([]);
  });
});

describe('Plan: waitForLock, when another execution holds a planned workspace', () => {
  const WAIT_REASON = (held: string) =>
    `waiting for workspace(s) locked by another execution: ${held} (planned again every minute, at most ${LOCK_WAIT_MINUTES} min)`;

  it('waits, keeping the plan, and says which workspace is held by which execution', async () => {
    // Prepare
    const w = world();
    const lock = locks([WS2]);
    // Act
    const plan = await w.plan(manual({ waitForLock: true }), {
      lockHolder: lock.lockHolder,
      startedAt: NOW - 10 * MINUTE,
    });
    // Assess
    expect(plan).toMatchObject({
      mode: 'wait',
      reason: WAIT_REASON(`${WS2} (by exec-other)`),
      workspaceCount: 1,
      target: { keyArn: NEW_ARN },
    });
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS2]);
    expect(lock.asked).toEqual([WS2]);
    expect(PlanSchema.parse(plan)).toEqual(plan);
  });

  it('waits without being asked when an event finds a workspace held (nothing would retry the event)', async () => {
    // Prepare: the watched alias moved while another execution rotates one of the configured workspaces
    const w = world({ env: { WORKSPACE_IDS: `${WS},${WS2}` } });
    const lock = locks([WS2]);
    // Act
    const plan = await w.plan(fixture('cloudtrail-update-alias'), {
      lockHolder: lock.lockHolder,
      startedAt: NOW - 10 * MINUTE,
    });
    // Assess
    expect(plan).toMatchObject({
      mode: 'wait',
      reason: WAIT_REASON(`${WS2} (by exec-other)`),
      trigger: { kind: 'aliasMoved', eventId: ALIAS_EVENT_ID },
    });
    // Past the bound it fails as a manual start would, having touched nothing
    const late = await rejection(
      w.plan(fixture('cloudtrail-update-alias'), {
        lockHolder: lock.lockHolder,
        startedAt: NOW - LOCK_WAIT_MINUTES * MINUTE,
      }),
    );
    expect(late.name).toBe('WorkspaceBusy');
  });

  it('lists every held workspace, the first ten by name', async () => {
    // Prepare: twelve workspaces on the old key, all held
    const ids = Array.from({ length: 12 }, (_, i) => 5_000_000_000_000_000 + i);
    const w = world({
      workspaces: ids.map((id) => ({
        workspace_id: id,
        managed_services_customer_managed_key_id: 'cfg-old',
      })),
    });
    // Act
    const plan = await w.plan(manual({ workspaceIds: ids, waitForLock: true }), locks(ids, 'exec-A'));
    // Assess
    const named = ids.slice(0, 10).map((id) => `${id} (by exec-A)`);
    expect(plan.reason).toBe(WAIT_REASON(`${named.join(', ')} and 2 more`));
  });

  it('waits when the execution start is not known (no time has passed)', async () => {
    // Act
    const plan = await world().plan(manual({ waitForLock: true }), locks([WS2]));
    // Assess
    expect(plan.mode).toBe('wait');
  });

  it('still waits just before the longest wait is over', async () => {
    // Act
    const plan = await world().plan(manual({ waitForLock: true }), {
      ...locks([WS2]),
      startedAt: NOW - LOCK_WAIT_MINUTES * MINUTE + 1,
    });
    // Assess
    expect(plan.mode).toBe('wait');
  });

  it('fails with WorkspaceBusy once it has waited the longest wait, naming the held workspaces, touching nothing', async () => {
    // Prepare
    const w = world();
    // Act
    const error = await rejection(
      w.plan(manual({ waitForLock: true }), {
        ...locks([WS2], 'exec-A'),
        startedAt: NOW - LOCK_WAIT_MINUTES * MINUTE,
      }),
    );
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.message).toBe(
      `waited ${LOCK_WAIT_MINUTES} min for locked workspace(s) ${WS2} (by exec-A); this execution touched nothing. Start again when they are free.`,
    );
    expect(error.details).toEqual({ workspaces: [`${WS2} (by exec-A)`] });
    expect(w.account.writes()).toEqual([]);
    expect(w.kms.writes()).toEqual([]);
  });

  it('names at most 100 held workspaces in the WorkspaceBusy details', async () => {
    // Prepare
    const ids = Array.from({ length: 120 }, (_, i) => 6_000_000_000_000_000 + i);
    const w = world({
      workspaces: ids.map((id) => ({
        workspace_id: id,
        managed_services_customer_managed_key_id: 'cfg-old',
      })),
    });
    // Act
    const error = await rejection(
      w.plan(manual({ workspaceIds: ids, waitForLock: true }), {
        ...locks(ids, 'exec-A'),
        startedAt: NOW - 2 * LOCK_WAIT_MINUTES * MINUTE,
      }),
    );
    // Assess
    expect(error.name).toBe('WorkspaceBusy');
    expect(error.details?.workspaces).toEqual(ids.slice(0, 100).map((id) => `${id} (by exec-A)`));
    expect(error.message).toContain('and 110 more;');
  });

  it.each<[string, Json, Partial<PlanDeps>]>([
    ['waitForLock is not asked', {}, {}],
    ['it is a dry run', { waitForLock: true, dryRun: true }, {}],
    ['no lock table is given', { waitForLock: true }, { lockHolder: undefined }],
  ])('rotates without asking about locks when %s', async (_, extra, deps) => {
    // Prepare
    const lock = locks([WS, WS2]);
    // Act
    const plan = await world().plan(manual(extra), { lockHolder: lock.lockHolder, ...deps });
    // Assess
    expect(plan.mode).toBe('rotate');
    expect(plan.reason).not.toContain('waiting');
    expect(lock.asked).toEqual([]);
  });

  it('rotates at once when no planned workspace is held', async () => {
    // Prepare: WS (not planned: already on the key) is held, WS2 is free
    const lock = locks([WS]);
    // Act
    const plan = await world().plan(manual({ waitForLock: true }), lock);
    // Assess
    expect(plan.mode).toBe('rotate');
    expect(lock.asked).toEqual([WS2]);
  });

  it('does not wait when there is nothing to rotate', async () => {
    // Prepare
    const lock = locks([WS]);
    // Act
    const plan = await world().plan(manual({ workspaceIds: [WS], waitForLock: true }), lock);
    // Assess
    expect(plan.mode).toBe('noop');
    expect(lock.asked).toEqual([]);
  });

  it('verifies at once, waiting for no lock: a verification changes no workspace', async () => {
    // Prepare
    const lock = locks([WS, WS2]);
    // Act
    const plan = await world().plan(
      { verify: true, workspaceIds: [WS, WS2], keyArn: OLD_ARN, waitForLock: true },
      lock,
    );
    // Assess
    expect(plan.mode).toBe('verify');
    expect(plan.workspaces.map((p) => p.workspaceId)).toEqual([WS2]);
    expect(lock.asked).toEqual([]);
  });

  it('passes on an Account API failure unchanged, asking about no lock', async () => {
    // Prepare
    const w = world();
    const failure = new Error('socket hang up');
    w.account.listWorkspaces = async () => {
      throw failure;
    };
    const lock = locks([WS, WS2]);
    // Act
    const error = await rejection(w.plan(manual({ waitForLock: true }), lock));
    // Assess
    expect(error).toBe(failure);
    expect(lock.asked).toEqual([]);
  });

  describe('a workspace not running because the execution holding it is changing its key', () => {
    const updating = () =>
      world({
        workspaces: [
          {
            workspace_id: WS2,
            workspace_name: 'dev',
            workspace_status: 'PROVISIONING',
            managed_services_customer_managed_key_id: 'cfg-old',
          },
        ],
      });

    it('waits for it with waitForLock, with a plan that moves no workspace yet', async () => {
      // Prepare
      const lock = locks([WS2], 'exec-A');
      // Act
      const plan = await updating().plan(manual({ workspaceIds: [WS2], waitForLock: true }), lock);
      // Assess
      expect(plan).toEqual({
        mode: 'wait',
        dryRun: false,
        reason: WAIT_REASON(`${WS2} (by exec-A)`),
        trigger: { kind: 'manual' },
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
      expect(lock.asked).toEqual([WS2]);
      expect(PlanSchema.parse(plan)).toEqual(plan);
    });

    it('does not wait in a dry run: it answers WorkspaceNotRunning, as a start without the lock would', async () => {
      // Prepare
      const lock = locks([WS2], 'exec-A');
      // Act
      const error = await rejection(
        updating().plan(manual({ workspaceIds: [WS2], waitForLock: true, dryRun: true }), lock),
      );
      // Assess
      expect(error.name).toBe('WorkspaceNotRunning');
      expect(lock.asked).toEqual([]);
    });

    it('fails with WorkspaceBusy when it has waited the longest wait', async () => {
      // Act
      const error = await rejection(
        updating().plan(manual({ workspaceIds: [WS2], waitForLock: true }), {
          ...locks([WS2], 'exec-A'),
          startedAt: NOW - LOCK_WAIT_MINUTES * MINUTE,
        }),
      );
      // Assess
      expect(error.name).toBe('WorkspaceBusy');
    });

    it('waits for an update no execution holds (the one that sent it ended), and fails only after the longest wait', async () => {
      // Prepare
      const lock = locks([]);
      // Act
      const plan = await updating().plan(manual({ workspaceIds: [WS2], waitForLock: true }), lock);
      const late = await rejection(
        updating().plan(manual({ workspaceIds: [WS2], waitForLock: true }), {
          ...lock,
          startedAt: NOW - LOCK_WAIT_MINUTES * MINUTE,
        }),
      );
      // Assess
      expect(plan).toMatchObject({
        mode: 'wait',
        reason: `waiting for workspace ${WS2}: it is PROVISIONING, a key update under way that no execution holds (planned again every minute, at most ${LOCK_WAIT_MINUTES} min)`,
        workspaces: [],
      });
      expect(PlanSchema.parse(plan)).toEqual(plan);
      expect(lock.asked).toEqual([WS2, WS2]);
      expect(late.name).toBe('WorkspaceNotRunning');
    });

    it('fails with WorkspaceNotRunning without waitForLock, asking about no lock', async () => {
      // Prepare
      const lock = locks([WS2]);
      // Act
      const error = await rejection(updating().plan(manual({ workspaceIds: [WS2] }), lock));
      // Assess
      expect(error.name).toBe('WorkspaceNotRunning');
      expect(lock.asked).toEqual([]);
    });

    it('does not wait out another refusal, even with waitForLock', async () => {
      // Prepare: the target key is disabled
      const w = world({
        keys: [{ keyId: OLD_KEY }, { keyId: NEW_KEY, state: 'Disabled' }],
        workspaces: [{ workspace_id: WS2, managed_services_customer_managed_key_id: 'cfg-old' }],
      });
      const lock = locks([WS2]);
      // Act
      const error = await rejection(w.plan(manual({ workspaceIds: [WS2], waitForLock: true }), lock));
      // Assess
      expect(error.name).toBe('KeyDisabled');
      expect(lock.asked).toEqual([]);
    });
  });
});

describe('Plan: an event delivered twice', () => {
  const duplicate = async (id: string): Promise<EventRecord> => {
    expect(id).toBe(DISABLE_EVENT_ID);
    return { first: false, holder: 'exec-first', at: NOW / 1000 - 60 };
  };

  it('plans nothing for a duplicate delivery, naming the execution that handled it, reading nothing', async () => {
    // Prepare
    const w = world();
    // Act
    const plan = await w.plan(fixture('cloudtrail-disable-key'), { recordEvent: duplicate });
    // Assess
    expect(plan).toEqual({
      mode: 'noop',
      dryRun: false,
      reason: `duplicate delivery of event ${DISABLE_EVENT_ID}, already handled by execution exec-first`,
      trigger: { kind: 'keyDisabled', eventId: DISABLE_EVENT_ID },
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
    expect(w.account.calls).toEqual([]);
    expect(w.kms.calls).toEqual([]);
  });

  it('plans the first delivery, having recorded its id', async () => {
    // Prepare
    const recorded: string[] = [];
    // Act
    const plan = await world().plan(fixture('cloudtrail-update-alias'), {
      recordEvent: async (id) => {
        recorded.push(id);
        return { first: true };
      },
    });
    // Assess
    expect(recorded).toEqual([ALIAS_EVENT_ID]);
    expect(plan.mode).toBe('rotate');
  });

  it('records nothing for a manual start or an event without id', async () => {
    // Prepare
    const recorded: string[] = [];
    const recordEvent = async (id: string): Promise<EventRecord> => {
      recorded.push(id);
      return { first: false, holder: 'exec-first', at: 0 };
    };
    const event = fixture('cloudtrail-update-alias');
    delete event.id;
    // Act
    const manualPlan = await world().plan(manual(), { recordEvent });
    const eventPlan = await world().plan(event, { recordEvent });
    // Assess
    expect(recorded).toEqual([]);
    expect(manualPlan.mode).toBe('rotate');
    expect(eventPlan.mode).toBe('rotate');
  });
});

describe('Plan: a target key whose policy denies Databricks', () => {
  const policyWith = (...statements: Json[]) => {
    const policy = JSON.parse(defaultPolicy()) as { Statement: Json[] };
    return JSON.stringify({ ...policy, Statement: [...policy.Statement, ...statements] });
  };
  const DENY_DATABRICKS = {
    Sid: 'NoDatabricks',
    Effect: 'Deny',
    Principal: { AWS: 'arn:aws:iam::414351767826:root' },
    Action: 'kms:Decrypt',
    Resource: '*',
  };
  /** Denies every role of the key's own account grants for AWS resources: EBS volumes of clusters. */
  const DENY_EBS_GRANTS = {
    Sid: 'NoGrantsInAccount',
    Effect: 'Deny',
    Principal: { AWS: `arn:aws:iam::${AWS_ACCOUNT}:root` },
    Action: 'kms:CreateGrant',
    Resource: '*',
  };
  const keysWith = (policy: string): FakeKey[] => [
    { keyId: OLD_KEY },
    { keyId: NEW_KEY, aliases: [WATCHED_ALIAS], policy },
  ];

  it('refuses the rotation with KeyPolicyDeniesDatabricks, naming the statement and the workspaces, touching nothing', async () => {
    // Prepare
    const w = world({ keys: keysWith(policyWith(DENY_DATABRICKS)) });
    // Act
    const error = await rejection(w.plan(manual({ workspaceIds: [WS2] })));
    // Assess
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toBe(
      `the policy of KMS key ${NEW_ARN} explicitly denies Databricks: "NoDatabricks" denies kms:Decrypt. A Deny overrides every Allow, so Databricks (arn:aws:iam::414351767826:root) could not use the key; nothing was touched. Remove those statements or narrow them so they do not apply to Databricks for these actions (or choose another key), then re-run.`,
    );
    expect(error.details).toMatchObject({
      keyArn: NEW_ARN,
      workspaceIds: [WS2],
      denials: [{ sid: 'NoDatabricks', index: 1, actions: ['kms:Decrypt'] }],
    });
    expect(w.kms.writes()).toEqual([]);
    expect(w.account.writes()).toEqual([]);
  });

  it('refuses a dry run too, which says what a real run would do', async () => {
    // Act
    const error = await rejection(
      world({ keys: keysWith(policyWith(DENY_DATABRICKS)) }).plan(
        manual({ workspaceIds: [WS2], dryRun: true }),
      ),
    );
    // Assess
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
  });

  it('refuses a first storage key reused for cluster volumes when the key denies grants to roles of its account', async () => {
    // Prepare
    const w = world({
      keys: keysWith(policyWith(DENY_EBS_GRANTS)),
      workspaces: [{ workspace_id: WS2, managed_services_customer_managed_key_id: 'cfg-old' }],
    });
    // Act
    const error = await rejection(
      w.plan(manual({ workspaceIds: [WS2], useCases: ['MANAGED_SERVICES', 'STORAGE'] })),
    );
    // Assess
    expect(error.name).toBe('KeyPolicyDeniesDatabricks');
    expect(error.message).toContain(
      `"NoGrantsInAccount" denies the workspace's cross-account role kms:CreateGrant for cluster volumes (EBS)`,
    );
    expect(error.details).toMatchObject({
      denials: [{ sid: 'NoGrantsInAccount', actions: [], clusterVolumeActions: ['kms:CreateGrant'] }],
    });
  });

  it.each<[string, Json]>([
    [
      'the storage key is not reused for cluster volumes',
      { useCases: ['MANAGED_SERVICES', 'STORAGE'], reuseKeyForClusterVolumes: false },
    ],
    ['only managed services move', { useCases: ['MANAGED_SERVICES'] }],
  ])('does not hold grants to roles of the key’s account against it when %s', async (_, extra) => {
    // Prepare
    const w = world({
      keys: keysWith(policyWith(DENY_EBS_GRANTS)),
      workspaces: [{ workspace_id: WS2, managed_services_customer_managed_key_id: 'cfg-old' }],
    });
    // Act
    const plan = await w.plan(manual({ workspaceIds: [WS2], ...extra }));
    // Assess
    expect(plan.mode).toBe('rotate');
    expect(plan.target?.keyArn).toBe(NEW_ARN);
  });

  it('reads no key policy for a plan that moves no workspace', async () => {
    // Prepare
    const w = world({ keys: keysWith(policyWith(DENY_DATABRICKS)) });
    // Act
    const plan = await w.plan(manual({ workspaceIds: [WS] }));
    // Assess
    expect(plan.mode).toBe('noop');
    expect(w.kms.calls.map((c) => c.operation)).not.toContain('GetKeyPolicy');
  });

  it('leaves a verification to report the policy itself, reading no policy in the plan', async () => {
    // Prepare
    const w = world({ keys: keysWith(policyWith(DENY_DATABRICKS)) });
    // Act
    const plan = await w.plan({ verify: true, workspaceIds: [WS], keyArn: NEW_ARN });
    // Assess
    expect(plan.mode).toBe('verify');
    expect(w.kms.calls.map((c) => c.operation)).not.toContain('GetKeyPolicy');
  });
});

describe('Plan: a key in use that stopped working, read again after the grace delay', () => {
  const IMPACT =
    'Databricks cannot read or write their data with it once its key cache expires; rotating away does not help (data written before still needs this key). No compute was touched';
  const USING = `workspace(s) ${WS} (prod) (MANAGED_SERVICES), ${WS2} (dev) (MANAGED_SERVICES)`;
  const cli = (verb: string) => `aws kms ${verb} --key-id ${OLD_ARN} --region us-east-1`;
  /** Both workspaces on the old key, in `state` now. */
  const stopped = (state: string | undefined, env: Record<string, string> = {}) =>
    world({
      env,
      keys: [
        ...(state === undefined ? [] : [{ keyId: OLD_KEY, state }]),
        { keyId: NEW_KEY, aliases: [WATCHED_ALIAS] },
      ],
      workspaces: [
        { workspace_id: WS, workspace_name: 'prod', managed_services_customer_managed_key_id: 'cfg-old' },
        { workspace_id: WS2, workspace_name: 'dev', managed_services_customer_managed_key_id: 'cfg-old' },
      ],
    });

  it.each<[string, string, string, string]>([
    [
      'PendingDeletion',
      'cloudtrail-schedule-key-deletion',
      'KeyInUsePendingDeletion',
      `KMS key ${OLD_ARN} is pending deletion (ScheduleKeyDeletion) and still was 10 min later, and ${USING} use it. ${IMPACT}. Undo it: ${cli('cancel-key-deletion')} && ${cli('enable-key')} (a cancelled deletion leaves the key disabled).`,
    ],
    [
      'PendingReplicaDeletion',
      'cloudtrail-schedule-key-deletion',
      'KeyInUsePendingDeletion',
      `KMS key ${OLD_ARN} is pending deletion (ScheduleKeyDeletion) and still was 10 min later, and ${USING} use it. ${IMPACT}. Undo it: ${cli('cancel-key-deletion')} && ${cli('enable-key')} (a cancelled deletion leaves the key disabled).`,
    ],
    [
      'PendingImport',
      'cloudtrail-disable-key',
      'KeyMaterialExpired',
      `the imported key material of KMS key ${OLD_ARN} expired or was deleted (DisableKey) and still was 10 min later, and ${USING} use it. ${IMPACT}. Undo it: import the same key material again (${cli('get-parameters-for-import')} --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_4096, then aws kms import-key-material --key-id ${OLD_ARN} --region us-east-1 with the wrapped material and import token).`,
    ],
    [
      'Unavailable',
      'cloudtrail-disable-key',
      'KeyInUseDisabled',
      `KMS key ${OLD_ARN} is Unavailable (its custom key store is disconnected; DisableKey) and still was 10 min later, and ${USING} use it. ${IMPACT}. Undo it: reconnect the custom key store (aws kms connect-custom-key-store --custom-key-store-id <id> --region us-east-1).`,
    ],
    [
      'Disabled',
      'cloudtrail-disable-key',
      'KeyInUseDisabled',
      `KMS key ${OLD_ARN} is Disabled (DisableKey) and still was 10 min later, and ${USING} use it. ${IMPACT}. Undo it: ${cli('enable-key')}.`,
    ],
  ])(
    'fails a key still %s with its own error and the command that undoes it',
    async (state, event, name, message) => {
      // Act
      const error = await rejection(stopped(state).plan(fixture(event), { recheck: true }));
      // Assess
      expect(error.name).toBe(name);
      expect(error.message).toBe(message);
      expect(error.details).toEqual({
        keyArn: OLD_ARN,
        keyState: state,
        workspaceIds: [WS, WS2],
        event: event === 'cloudtrail-disable-key' ? 'DisableKey' : 'ScheduleKeyDeletion',
      });
    },
  );

  it('says nothing about a later look when there is no grace delay', async () => {
    // Act
    const error = await rejection(
      stopped('Disabled', { KEY_RECHECK_GRACE_MINUTES: '0' }).plan(fixture('cloudtrail-disable-key')),
    );
    // Assess
    expect(error.message).toBe(
      `KMS key ${OLD_ARN} is Disabled (DisableKey), and ${USING} use it. ${IMPACT}. Undo it: ${cli('enable-key')}.`,
    );
  });

  it('fails a deleted key in use with KeyInUseDeleted, its state "deleted", sending the operator to support', async () => {
    // Act
    const error = await rejection(stopped(undefined).plan(fixture('kms-cmk-deletion')));
    // Assess
    expect(error.name).toBe('KeyInUseDeleted');
    expect(error.message).toBe(
      `KMS key ${OLD_ARN} (key deletion) no longer exists, and ${USING} use it: their data protected by it cannot be decrypted, and nothing in KMS undoes a deletion. Contact Databricks support for the affected workspaces.`,
    );
    expect(error.details).toEqual({
      keyArn: OLD_ARN,
      keyState: 'deleted',
      workspaceIds: [WS, WS2],
      event: 'key deletion',
    });
  });

  it('says the key was read again when it is enabled at the re-check, and not at the first look', async () => {
    // Act
    const first = await stopped('Enabled').plan(fixture('cloudtrail-disable-key'));
    const again = await stopped('Enabled').plan(fixture('cloudtrail-disable-key'), { recheck: true });
    // Assess
    expect(first.reason).toBe(
      `notice: DisableKey of ${OLD_ARN} was reported, but the key is Enabled now; ${USING} keep using it, nothing to do`,
    );
    expect(again.reason).toBe(
      `notice: DisableKey of ${OLD_ARN} was reported, but the key is Enabled now (read again after 10 min); ${USING} keep using it, nothing to do`,
    );
  });

  it('names both use cases of a workspace that uses the key for managed services and storage', async () => {
    // Prepare
    const w = world({
      keys: [{ keyId: OLD_KEY, state: 'Disabled' }, { keyId: NEW_KEY }],
      configs: [keyConfig('cfg-old', OLD_KEY, ['MANAGED_SERVICES', 'STORAGE'])],
      workspaces: [
        {
          workspace_id: WS,
          workspace_name: 'prod',
          managed_services_customer_managed_key_id: 'cfg-old',
          storage_customer_managed_key_id: 'cfg-old',
        },
      ],
    });
    // Act
    const plan = await w.plan(fixture('cloudtrail-disable-key'));
    // Assess
    expect(plan.mode).toBe('recheck');
    expect(plan.reason).toContain(`which workspace(s) ${WS} (prod) (MANAGED_SERVICES and STORAGE) use:`);
  });
});
