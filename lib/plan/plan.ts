import type { SdkClient } from '../aws/clients.ts';
import type { OpenPointer } from '../compute/snapshot-store.ts';
import { mapLimit } from '../concurrency.ts';
import type { AccountApi } from '../databricks/api.ts';
import type { KeyUseCase } from '../databricks/types.ts';
import { InvalidInput, InvalidSettings, listSome } from '../errors.ts';
import { KeyNotFound } from '../kms/errors.ts';
import {
  describeKey,
  isKeyArn,
  type KeyFacts,
  keyIdOf,
  keyRegion,
  keyUnusableReason,
  parseKmsArn,
} from '../kms/key.ts';
import { readKeyPolicy } from '../kms/key-policy.ts';
import { databricksDenials, describeDenials } from '../kms/policy-eval.ts';
import { WorkspaceBusy } from '../lock/errors.ts';
import type { EventRecord } from '../lock/events.ts';
import type { ActiveRunsPolicy, Plan, PlannedWorkspace } from '../rotation.ts';
import { LIMITS, type Settings } from '../settings.ts';
import { KeyPolicyDeniesDatabricks, StorageKeyAlreadySet, WorkspaceNotRunning } from '../workspace/errors.ts';
import {
  KeyInUseDeleted,
  KeyInUseDisabled,
  KeyInUsePendingDeletion,
  KeyInUseWithoutSuccessor,
  KeyMaterialExpired,
  NoWorkspacesInScope,
  OldKeyRetiredTooEarly,
  StorageKeyCannotBeRotated,
} from './errors.ts';
import { assertHistoryBudget } from './history-budget.ts';
import {
  describeWorkspace,
  loadScope,
  type Scope,
  type ScopeSource,
  useCasesOfKey,
  type WorkspaceView,
} from './scope.ts';
import {
  aliasNameOf,
  type EventOrigin,
  type FailedCall,
  type KeyEventKind,
  type ManualInput,
  parseTrigger,
  type Trigger,
} from './trigger.ts';

/** What planning reads: settings, KMS (DescribeKey only) and the Account API (list calls only). */
export interface PlanDeps {
  settings: Settings;
  kms: SdkClient;
  account: AccountApi;
  /** Epoch ms (the clock of the run), for the retention rule. */
  now: number;
  /**
   * Records an EventBridge event id as handled by this execution (lib/lock `recordEventOnce`): a duplicate
   * delivery of an event already handled plans nothing. The plan step always gives it; without it (unit
   * tests of the rules) events are not deduplicated.
   */
  recordEvent?: (eventId: string) => Promise<EventRecord>;
  /** The execution holding a workspace's lock, if any (lib/lock); for manual starts with `waitForLock`. */
  lockHolder?: (workspaceId: number) => Promise<string | undefined>;
  /** Epoch ms at which this execution started (`$$.Execution.StartTime`): bounds a `waitForLock` wait. */
  startedAt?: number;
  /**
   * The snapshot an earlier execution left open for a workspace (its compute is still stopped under it:
   * lib/compute `openPointerOf`), if any. A workspace that already uses the target key but has one is
   * planned to restore that compute only. Without it (unit tests of the rules) nothing is looked up.
   */
  openSnapshot?: (workspaceId: number) => Promise<OpenPointer | undefined>;
  /**
   * The second look at a key in use that stopped working, after the grace delay (plan mode `recheck`): a key
   * still unusable now fails (or, with EMERGENCY_ROTATION, rotates) instead of being re-checked again.
   */
  recheck?: boolean;
}

/** How long a manual start with `waitForLock` waits for another execution's lock (DESIGN §6.6). */
export const LOCK_WAIT_MINUTES = 240;

/**
 * Turns the execution input or an EventBridge event into an explicit `Plan` (DESIGN §3, §4): which
 * workspaces move to which key for which use cases, and what each step will do. It only reads (DescribeKey,
 * the workspace and key-configuration lists) and rejects what must not happen with a named error before
 * anything is touched.
 */
export async function planRotation(raw: unknown, deps: PlanDeps): Promise<Plan> {
  const trigger = parseTrigger(raw);
  if (trigger.kind !== 'manual') {
    // Events are evidence, not orders (DESIGN §3): one of another account or region is not acted on.
    const foreign = foreignEventReason(trigger, deps.settings);
    if (foreign)
      return noop(eventDefaults(deps.settings, { kind: trigger.kind, eventId: trigger.eventId }), foreign);
    // A call CloudTrail recorded as failed changed nothing: nothing to do, and nothing to alarm about.
    if (trigger.failedWith !== undefined) return failedCallPlan(trigger, deps.settings);
  }
  if (trigger.kind !== 'manual' && trigger.eventId !== undefined && deps.recordEvent) {
    // EventBridge delivers at least once: the same event (same id) twice rotates at most once (§6.6).
    const record = await deps.recordEvent(trigger.eventId);
    if (!record.first) {
      return noop(
        eventDefaults(deps.settings, { kind: trigger.kind, eventId: trigger.eventId }),
        `duplicate delivery of event ${trigger.eventId}, already handled by execution ${record.holder}`,
      );
    }
  }
  return refuseDeniedTarget(await planTrigger(trigger, deps), deps);
}

/**
 * DESIGN §6.9 before anything is touched: a rotation to a key whose policy explicitly denies Databricks what
 * the use cases need would stop compute for an update that must be refused. The Deny wins over every Allow
 * (and over the statements the patch step would add), so it is refused here, in the plan (a read: GetKeyPolicy).
 */
async function refuseDeniedTarget(plan: Plan, deps: PlanDeps): Promise<Plan> {
  if (plan.mode !== 'rotate' || !plan.target) return plan;
  const keyArn = plan.target.keyArn;
  const denials = databricksDenials(await readKeyPolicy(deps.kms, keyArn), {
    databricksPrincipalArn: deps.settings.databricksPrincipalArn,
    accountIds: deps.settings.policyAccountIds,
    keyArn,
    useCases: plan.useCases,
    // A storage key reused for cluster volumes: the workspace's cross-account role must be able to create
    // EBS grants too. Its ARN is not read here, so a Deny that may apply to a role of the key's account
    // refuses (a storage key can never be changed afterwards).
    ...(plan.reuseKeyForClusterVolumes && plan.useCases.includes('STORAGE') ? { clusterVolumes: {} } : {}),
  });
  if (denials.length === 0) return plan;
  throw new KeyPolicyDeniesDatabricks(
    `the policy of KMS key ${keyArn} explicitly denies Databricks: ${describeDenials(denials)}. A Deny overrides every Allow, so Databricks (${deps.settings.databricksPrincipalArn}) could not use the key; nothing was touched. Remove those statements or narrow them so they do not apply to Databricks for these actions (or choose another key), then re-run.`,
    { details: { keyArn, denials, workspaceIds: plan.workspaces.map((w) => w.workspaceId) } },
  );
}

/** The no-op plan of a KMS call that failed, saying which call failed and why. */
function failedCallPlan(call: FailedCall, settings: Settings): Plan {
  const base = eventDefaults(settings, { kind: call.kind, eventId: call.eventId });
  if (call.kind === 'aliasMoved') {
    return noop(
      base,
      `the alias change of ${call.aliasName ?? `(alias not named; ${call.eventName})`} failed (${call.failedWith}); nothing changed`,
    );
  }
  return noop(base, `the ${EVENT_WORDS[call.kind]} call failed (${call.failedWith}); the key did not change`);
}

async function planTrigger(trigger: Exclude<Trigger, FailedCall>, deps: PlanDeps): Promise<Plan> {
  switch (trigger.kind) {
    case 'manual':
      // A dry run never waits: it answers what a real start would meet now.
      return planWaitingForLocks(
        () => planManual(trigger.input, deps),
        trigger.input.waitForLock === true && trigger.input.dryRun !== true,
        deps,
        'manual',
      );
    // An event always waits for a workspace another execution holds: nothing would retry it, so failing
    // with WorkspaceBusy would drop the change it reports (a rotation under way when the watched alias
    // moves, two events about one key close together). Planned again after the wait, from what the
    // workspaces show then, it rotates what still needs it, and is a no-op when the other did it.
    case 'aliasMoved':
      return planWaitingForLocks(() => planAliasMoved(trigger, deps), true, deps, trigger.kind);
    default:
      return planWaitingForLocks(() => planKeyEvent(trigger, deps), true, deps, trigger.kind);
  }
}

/**
 * The plan `planned` makes, or — with `waitForLock` — a `wait` plan while a planned workspace is locked by
 * another execution, or is updating (`WorkspaceNotRunning`: PROVISIONING under another execution's lock, or
 * under none when the execution that sent the update ended). Bounded by `LOCK_WAIT_MINUTES`.
 */
async function planWaitingForLocks(
  planned: () => Promise<Plan>,
  waitForLock: boolean,
  deps: PlanDeps,
  kind: Plan['trigger']['kind'],
): Promise<Plan> {
  let plan: Plan;
  try {
    plan = await planned();
  } catch (error) {
    const details = (error as { details?: { workspaceId?: unknown; status?: unknown } }).details;
    const id = details?.workspaceId;
    if (!waitForLock || (error as Error).name !== 'WorkspaceNotRunning' || typeof id !== 'number')
      throw error;
    const base: Plan = {
      ...eventDefaults(deps.settings, { kind }),
      mode: 'rotate',
      workspaces: [],
      oldKeyArns: [],
    };
    const waiting = await waitingForLocks(base, true, deps, [id]);
    if (waiting.mode === 'wait') return waiting;
    // Updating with no execution holding it (the one that sent the update ended: aborted, timed out):
    // wait for the update to end too; planned again then, the rotation restores what that one left stopped.
    const waited = deps.now - (deps.startedAt ?? deps.now);
    if (details?.status !== 'PROVISIONING' || waited >= LOCK_WAIT_MINUTES * 60_000) throw error;
    return {
      ...base,
      mode: 'wait',
      reason: `waiting for workspace ${id}: it is PROVISIONING, a key update under way that no execution holds (planned again every minute, at most ${LOCK_WAIT_MINUTES} min)`,
    };
  }
  return waitingForLocks(plan, waitForLock, deps);
}

/** The part of a plan's reason that says which planned workspaces only get their compute restored. */
function restoreOnlyText(planned: readonly PlannedWorkspace[]): string {
  const count = planned.filter((w) => w.restoreOnly === true).length;
  if (count === 0) return '';
  const which = count === planned.length ? 'all already on it' : `${count} already on it`;
  return ` (${which}: only the compute an earlier execution left stopped is restored)`;
}

/**
 * `waitForLock`: a rotation whose workspaces another execution holds is not started but waited for — the
 * plan says `wait` and the state machine plans again a minute later, from what the workspaces show then (so
 * a workspace that the other execution has meanwhile rotated is no longer planned). After
 * `LOCK_WAIT_MINUTES` it fails with `WorkspaceBusy`, having touched nothing.
 */
async function waitingForLocks(
  plan: Plan,
  waitForLock: boolean,
  deps: PlanDeps,
  workspaceIds: readonly number[] = plan.workspaces.map((w) => w.workspaceId),
): Promise<Plan> {
  if (!waitForLock || plan.mode !== 'rotate' || plan.dryRun || !deps.lockHolder) return plan;
  const held: string[] = [];
  for (const id of workspaceIds) {
    const holder = await deps.lockHolder(id);
    if (holder !== undefined) held.push(`${id} (by ${holder})`);
  }
  if (held.length === 0) return plan;
  const waited = deps.now - (deps.startedAt ?? deps.now);
  if (waited >= LOCK_WAIT_MINUTES * 60_000) {
    throw new WorkspaceBusy(
      `waited ${LOCK_WAIT_MINUTES} min for locked workspace(s) ${listSome(held, 10)}; this execution touched nothing. Start again when they are free.`,
      { details: { workspaces: held.slice(0, 100) } },
    );
  }
  return {
    ...plan,
    mode: 'wait',
    reason: `waiting for workspace(s) locked by another execution: ${listSome(held, 10)} (planned again every minute, at most ${LOCK_WAIT_MINUTES} min)`,
  };
}

/** The knobs of a rotation that do not depend on the workspace. */
export interface RotationRequest {
  trigger: Plan['trigger'];
  target: KeyFacts;
  targetAlias: string | undefined;
  useCases: KeyUseCase[];
  reuseKeyForClusterVolumes: boolean;
  activeRuns: ActiveRunsPolicy;
  drainTimeoutMinutes: number;
  oldKeyRetentionHours: number;
  dryRun: boolean;
  emergency: boolean;
  maxConcurrency: number;
  /** Why this rotation happens, first words of the plan's reason. */
  why: string;
  /** Named workspaces are held to every rule; "every workspace" silently skips other regions. */
  explicit: boolean;
  /** Workspaces whose compute an earlier execution left stopped: id → its open snapshot. */
  leftStopped?: ReadonlyMap<number, LeftStopped>;
}

/** How many open-snapshot lookups the plan makes at once (one small S3 read each). */
const LOOKUP_CONCURRENCY = 16;

/**
 * The workspaces of `views` whose compute an earlier execution left stopped (DESIGN §4: a failed rotation is
 * retried by a new execution, which honours what the earlier one left). Empty without `deps.openSnapshot`.
 */
async function leftStoppedIn(
  views: readonly WorkspaceView[],
  deps: Pick<PlanDeps, 'openSnapshot' | 'now' | 'settings'>,
): Promise<Map<number, LeftStopped>> {
  const found = new Map<number, LeftStopped>();
  const lookup = deps.openSnapshot;
  if (!lookup) return found;
  const pointers = await mapLimit(views, LOOKUP_CONCURRENCY, (v) => lookup(v.workspace.workspace_id));
  views.forEach((view, i) => {
    const pointer = pointers[i];
    if (pointer === undefined) return;
    const hasStorageKey = Boolean(view.workspace.storage_customer_managed_key_id);
    found.set(view.workspace.workspace_id, {
      snapshotKey: pointer.snapshotKey,
      restoreAfterSeconds: storageWaitLeft(
        pointer,
        hasStorageKey,
        deps.settings.storageWaitMinutes,
        deps.now,
      ),
    });
  });
  return found;
}

/** Compute an earlier execution left stopped: its open snapshot, and how long before it may restart. */
export interface LeftStopped {
  snapshotKey: string;
  restoreAfterSeconds: number;
}

/**
 * How long a new execution must wait before it restarts compute an earlier one left stopped: what is left
 * of the storage wait that execution began (DESIGN §6.5: nothing starts until it is over, whoever starts
 * it). Until the end it recorded; the whole wait from now when it was adding a storage key but recorded no
 * end (it ended before it saw the key take effect), or when the pointer does not say (written before this
 * was recorded) and the workspace has a storage key; otherwise nothing.
 */
export function storageWaitLeft(
  pointer: Pick<OpenPointer, 'storageAdded' | 'storageWaitUntil'>,
  hasStorageKey: boolean,
  storageWaitMinutes: number,
  now: number,
): number {
  if (pointer.storageWaitUntil !== undefined) {
    // Never longer than the longest storage wait any deployment allows (a pointer is data, not a promise).
    const left = Math.ceil((pointer.storageWaitUntil - now) / 1000);
    return Math.min(Math.max(0, left), LIMITS.storageWaitMinutes * 60);
  }
  return (pointer.storageAdded ?? hasStorageKey) ? storageWaitMinutes * 60 : 0;
}

async function planManual(input: ManualInput, deps: PlanDeps): Promise<Plan> {
  const { settings } = deps;
  const source = manualScopeSource(input, settings);
  const target = await resolveManualTarget(input, deps.kms);
  const scope = await loadScope(deps.account, source);
  if (input.verify) {
    const base = eventDefaults(settings, { kind: 'manual', keyArn: target.arn });
    const users = scope.views.filter((v) => useCasesOfKey(v, target.arn).length > 0);
    if (users.length === 0) return noop(base, `no workspace in scope uses ${target.arn}; nothing to verify`);
    const plan = verifyPlan(base, users, target.arn, input.repairPolicy ?? settings.repairPolicyOnRotation);
    return { ...plan, dryRun: input.dryRun, reason: `manual verification: ${plan.reason}` };
  }
  return rotationPlan(scope.views, settings, {
    leftStopped: await leftStoppedIn(scope.views, deps),
    trigger: { kind: 'manual', keyArn: target.arn },
    target,
    targetAlias: input.keyAlias ?? (await watchedAliasOf(target, deps)),
    useCases: input.useCases,
    reuseKeyForClusterVolumes: input.reuseKeyForClusterVolumes,
    activeRuns: input.activeRuns,
    drainTimeoutMinutes: input.drainTimeoutMinutes,
    oldKeyRetentionHours: input.oldKeyRetentionHours ?? settings.oldKeyRetentionHours,
    dryRun: input.dryRun,
    emergency: false,
    maxConcurrency: input.maxConcurrency ?? settings.maxConcurrentWorkspaces,
    why: 'manual request',
    explicit: scope.explicit,
  });
}

/**
 * The workspaces a manual start names (DESIGN §5): its `workspaceIds`, else the deployment's WORKSPACE_IDS;
 * every workspace of the account only with an explicit `"allWorkspaces": true` — a start that forgot the ids
 * must not reach every workspace the key does.
 */
function manualScopeSource(input: ManualInput, settings: Settings): ScopeSource {
  if (input.workspaceIds) return { ids: input.workspaceIds, field: 'workspaceIds' };
  if (settings.workspaceIds) return { ids: settings.workspaceIds, field: 'WORKSPACE_IDS' };
  if (input.allWorkspaces) return { ids: undefined, field: 'allWorkspaces' };
  throw new InvalidInput(
    `execution input field workspaceIds is required: name the workspaces ("workspaceIds": [1234567890123456]), set the deployment's WORKSPACE_IDS, or give "allWorkspaces": true to ${input.verify ? 'verify' : 'rotate'} every workspace of Databricks account ${settings.databricksAccountId} that the key concerns`,
    { details: { field: 'workspaceIds' } },
  );
}

async function resolveManualTarget(input: ManualInput, kms: SdkClient): Promise<KeyFacts> {
  const ref = input.keyArn ?? (input.keyAlias as string);
  const key = await describeKey(kms, ref);
  if (input.keyArn && input.keyAlias) {
    const aliased = await describeKey(kms, input.keyAlias);
    if (aliased.arn !== key.arn) {
      throw new InvalidInput(
        `execution input field keyAlias is invalid: ${input.keyAlias} points at ${aliased.arn}, not at keyArn ${key.arn}; give one of them or make them agree`,
        { details: { field: 'keyAlias' } },
      );
    }
  }
  return key;
}

/**
 * The watched alias when it names `target`: recorded as the configuration's `key_alias`, it lets a later
 * alias move find the workspaces that follow the alias.
 */
async function watchedAliasOf(target: KeyFacts, deps: PlanDeps): Promise<string | undefined> {
  const alias = deps.settings.watchedAlias;
  if (!alias) return undefined;
  try {
    return (await describeKey(deps.kms, alias)).arn === target.arn ? alias : undefined;
  } catch (error) {
    if (error instanceof KeyNotFound) return undefined;
    throw error;
  }
}

async function planAliasMoved(
  trigger: Extract<Trigger, { kind: 'aliasMoved' }>,
  deps: PlanDeps,
): Promise<Plan> {
  const { settings } = deps;
  const base = eventDefaults(settings, { kind: 'aliasMoved', eventId: trigger.eventId });
  const aliasName = aliasNameOf(trigger.aliasName);
  if (!settings.watchedAlias || aliasName !== settings.watchedAlias) {
    return noop(
      base,
      `alias ${aliasName} is not the watched alias (${settings.watchedAlias ?? 'none configured'}); nothing to do`,
    );
  }
  const target = await resolveEventKey(deps, trigger.keyRef);
  if (!target) return noop(base, unresolvedKeyReason(trigger.keyRef, settings));
  // The event says where the alias pointed when it was sent; EventBridge may deliver it late (retries for
  // up to 24 h) or after a newer move. Act only while the alias still names that key: otherwise a stale
  // event would rotate the workspaces back to a key the security team has already moved on from.
  const now = await resolveEventKey(deps, settings.watchedAlias);
  if (now?.arn !== target.arn) {
    return noop(
      { ...base, trigger: { kind: 'aliasMoved', eventId: trigger.eventId, keyArn: target.arn } },
      `the event moved watched alias ${settings.watchedAlias} to ${target.arn}, but it now ${now ? `points at ${now.arn}` : 'does not resolve'}: a later change superseded this event${now ? ' (its own event rotates to the current target)' : ''}; nothing to do`,
    );
  }
  const scope = await loadScope(deps.account, { ids: settings.workspaceIds, field: 'WORKSPACE_IDS' });
  // Rule (stateless): with WORKSPACE_IDS the configured workspaces follow the alias. Without it, the
  // alias's workspaces are those whose managed-services key configuration was registered under the alias
  // (`aws_key_info.key_alias`, which this product records on every configuration it registers). The event
  // does not say where the alias pointed before, so "every workspace on the previous key" is not knowable.
  const views = scope.explicit
    ? scope.views
    : scope.views.filter((v) => v.managedServices?.aws_key_info?.key_alias === settings.watchedAlias);
  const request: RotationRequest = {
    ...rotationDefaults(settings),
    trigger: { kind: 'aliasMoved', eventId: trigger.eventId, keyArn: target.arn },
    target,
    targetAlias: settings.watchedAlias,
    why: `watched alias ${settings.watchedAlias} now points at ${target.arn}`,
    explicit: scope.explicit,
  };
  if (views.length === 0) {
    return noop(
      { ...base, trigger: request.trigger },
      `${request.why}, but no workspace's managed-services key configuration is registered under that alias; set WORKSPACE_IDS to name the workspaces the alias governs`,
    );
  }
  return rotationPlan(views, settings, { ...request, leftStopped: await leftStoppedIn(views, deps) });
}

async function planKeyEvent(
  trigger: Extract<Trigger, { kind: KeyEventKind }>,
  deps: PlanDeps,
): Promise<Plan> {
  const { settings } = deps;
  const what = EVENT_WORDS[trigger.kind];
  let keyArn: string;
  if (isKeyArn(trigger.keyRef)) {
    keyArn = trigger.keyRef;
  } else {
    // A bare key id or an alias is looked up in this account only after the event was found to be of this
    // account (foreignEventReason); one that names no key here is not acted on.
    const resolved = await resolveEventKey(deps, trigger.keyRef);
    if (!resolved)
      return noop(
        eventDefaults(settings, { kind: trigger.kind, eventId: trigger.eventId }),
        unresolvedKeyReason(trigger.keyRef, settings),
      );
    keyArn = resolved.arn;
  }
  const base = eventDefaults(settings, { kind: trigger.kind, eventId: trigger.eventId, keyArn });
  const scope = await loadScope(deps.account, { ids: settings.workspaceIds, field: 'WORKSPACE_IDS' });
  const users = scope.views.filter((v) => useCasesOfKey(v, keyArn).length > 0);

  if (trigger.kind === 'keyRotated') {
    // Material rotated in place: the ARN is unchanged, so no workspace changes key. Only verify (DESIGN §3).
    if (users.length === 0)
      return noop(base, `key ${keyArn} (${what}) is not used by any workspace in scope`);
    return verifyPlan(base, users, keyArn, settings.repairPolicyOnRotation);
  }

  if (users.length === 0) {
    assertNotWithinRetention(scope, keyArn, what, deps);
    return noop(base, `key ${keyArn} (${what}) is not used by any workspace in scope`);
  }
  return planKeyStopped(trigger, deps, base, keyArn, users);
}

/**
 * A key that workspaces use was disabled, scheduled for deletion, deleted or lost its imported material
 * (DESIGN §3). Rotating away does not rescue the data (Databricks needs the old key for 24 h after a
 * rotation), undoing the change does: so the key is read again after a grace delay (plan mode `recheck`),
 * and a key still unusable then fails with a named error listing the workspaces and the command that undoes
 * it, touching no compute. Only with EMERGENCY_ROTATION does it move the managed services of those
 * workspaces to the watched alias's key, after the same re-check.
 */
async function planKeyStopped(
  trigger: Extract<Trigger, { kind: KeyEventKind }>,
  deps: PlanDeps,
  base: Plan,
  keyArn: string,
  users: readonly WorkspaceView[],
): Promise<Plan> {
  const { settings } = deps;
  const what = EVENT_WORDS[trigger.kind];
  const using = users.map(
    (v) => `${describeWorkspace(v.workspace)} (${useCasesOfKey(v, keyArn).join(' and ')})`,
  );
  const key = await resolveEventKey(deps, keyArn);
  if (key && keyUsable(key)) {
    return noop(
      base,
      `notice: ${what} of ${keyArn} was reported, but the key is ${key.state} now${deps.recheck ? ` (read again after ${settings.keyRecheckGraceMinutes} min)` : ''}; workspace(s) ${listSome(using, 20)} keep using it, nothing to do`,
    );
  }
  const state = key?.state ?? 'deleted';
  if (!deps.recheck && key && settings.keyRecheckGraceMinutes > 0) {
    return {
      ...base,
      mode: 'recheck',
      recheckSeconds: Math.round(settings.keyRecheckGraceMinutes * 60),
      reason: `${what} of ${keyArn}, which workspace(s) ${listSome(using, 20)} use: the key is ${state}. Reading it again in ${settings.keyRecheckGraceMinutes} min (KEY_RECHECK_GRACE_MINUTES); nothing is touched meanwhile.`,
      workspaceCount: users.length,
    };
  }
  if (settings.emergencyRotation) return emergencyRotation(deps, base, keyArn, what, users);
  throw keyInUseError(keyArn, key, what, users, using, settings);
}

/** KMS can use the key (Databricks' needs are checked elsewhere): Enabled, or changing but not stopped. */
function keyUsable(key: KeyFacts): boolean {
  return key.state === 'Enabled';
}

/** The named error for a key in use that is still unusable, with the command that undoes the change. */
function keyInUseError(
  keyArn: string,
  key: KeyFacts | undefined,
  what: string,
  users: readonly WorkspaceView[],
  using: readonly string[],
  settings: Settings,
): Error {
  const region = keyRegion(keyArn);
  const cli = (verb: string) => `aws kms ${verb} --key-id ${keyArn} --region ${region}`;
  const workspaces = `workspace(s) ${listSome(using, 20)}`;
  const after =
    settings.keyRecheckGraceMinutes > 0 ? ` and still was ${settings.keyRecheckGraceMinutes} min later` : '';
  const impact =
    'Databricks cannot read or write their data with it once its key cache expires; rotating away does not help (data written before still needs this key). No compute was touched';
  const details = {
    keyArn,
    keyState: key?.state ?? 'deleted',
    workspaceIds: users.map((v) => v.workspace.workspace_id),
    event: what,
  };
  if (!key) {
    return new KeyInUseDeleted(
      `KMS key ${keyArn} (${what}) no longer exists, and ${workspaces} use it: their data protected by it cannot be decrypted, and nothing in KMS undoes a deletion. Contact Databricks support for the affected workspaces.`,
      { details },
    );
  }
  switch (key.state) {
    case 'PendingDeletion':
    case 'PendingReplicaDeletion':
      return new KeyInUsePendingDeletion(
        `KMS key ${keyArn} is pending deletion (${what})${after}, and ${workspaces} use it. ${impact}. Undo it: ${cli('cancel-key-deletion')} && ${cli('enable-key')} (a cancelled deletion leaves the key disabled).`,
        { details },
      );
    case 'PendingImport':
      return new KeyMaterialExpired(
        `the imported key material of KMS key ${keyArn} expired or was deleted (${what})${after}, and ${workspaces} use it. ${impact}. Undo it: import the same key material again (${cli('get-parameters-for-import')} --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_4096, then aws kms import-key-material --key-id ${keyArn} --region ${region} with the wrapped material and import token).`,
        { details },
      );
    case 'Unavailable':
      return new KeyInUseDisabled(
        `KMS key ${keyArn} is Unavailable (its custom key store is disconnected; ${what})${after}, and ${workspaces} use it. ${impact}. Undo it: reconnect the custom key store (aws kms connect-custom-key-store --custom-key-store-id <id> --region ${region}).`,
        { details },
      );
    default:
      return new KeyInUseDisabled(
        `KMS key ${keyArn} is ${key.state} (${what})${after}, and ${workspaces} use it. ${impact}. Undo it: ${cli('enable-key')}.`,
        { details },
      );
  }
}

/** Opt-in (EMERGENCY_ROTATION): move the managed services of a stopped key's workspaces to the watched alias's key. */
async function emergencyRotation(
  deps: PlanDeps,
  base: Plan,
  keyArn: string,
  what: string,
  users: readonly WorkspaceView[],
): Promise<Plan> {
  const { settings } = deps;
  const storageUsers = users.filter((v) => v.storageKeyArn === keyArn);
  if (storageUsers.length > 0) {
    const names = storageUsers.map((v) => describeWorkspace(v.workspace)).join(', ');
    throw new StorageKeyCannotBeRotated(
      `KMS key ${keyArn} (${what}) is the storage key of workspace(s) ${names}; a storage key can never be replaced, so those workspaces will lose access to their root storage. Re-enable the key or cancel its deletion (kms:EnableKey / kms:CancelKeyDeletion) now.`,
      { details: { keyArn, workspaceIds: storageUsers.map((v) => v.workspace.workspace_id) } },
    );
  }
  const msUsers = users.filter((v) => v.managedServicesKeyArn === keyArn);
  const successor = await findSuccessor(deps, keyArn, msUsers);
  if (!successor.key) {
    const names = msUsers.map((v) => describeWorkspace(v.workspace)).join(', ');
    throw new KeyInUseWithoutSuccessor(
      `KMS key ${keyArn} (${what}) still protects the managed services of workspace(s) ${names}, and ${successor.why}. Re-enable the key or cancel its deletion, or point ${settings.watchedAlias ?? 'the watched alias (setting WATCHED_ALIAS)'} at a new enabled key in the same region to rotate them.`,
      { details: { keyArn, workspaceIds: msUsers.map((v) => v.workspace.workspace_id) } },
    );
  }
  return rotationPlan(msUsers, settings, {
    leftStopped: await leftStoppedIn(msUsers, deps),
    ...rotationDefaults(settings),
    trigger: base.trigger,
    target: successor.key,
    targetAlias: settings.watchedAlias,
    activeRuns: 'cancel',
    emergency: true,
    why: `emergency (EMERGENCY_ROTATION): ${what} of ${keyArn}, still unusable after the grace delay; moving its workspaces' managed services to ${successor.key.arn} (watched alias ${settings.watchedAlias})`,
    explicit: true,
  });
}

/**
 * Why an event is not this deployment's to act on, or `undefined` when it is: its `account` and `region`
 * must be the deployment's, and a key or alias it names by ARN must be of that account and region. An event
 * without them cannot be attributed and is not acted on either.
 */
function foreignEventReason(
  trigger: {
    eventId: string | undefined;
    origin: EventOrigin;
    keyRef: string | undefined;
    aliasName?: string | undefined;
  },
  settings: Settings,
): string | undefined {
  const account = settings.deploymentAccountId;
  const region = settings.deploymentRegion;
  if (!account || !region) {
    throw new InvalidSettings(
      `setting ${account ? 'AWS_REGION' : 'DEPLOYMENT_ACCOUNT_ID'} is not set, and it is needed to check that an event belongs to this deployment`,
      { details: { field: account ? 'AWS_REGION' : 'DEPLOYMENT_ACCOUNT_ID' } },
    );
  }
  const event = `event ${trigger.eventId ?? '(no id)'}`;
  const { origin } = trigger;
  if (origin.account !== account) {
    return origin.account === undefined
      ? `${event} carries no account, so it cannot be attributed to this deployment's account ${account}; not acted on`
      : `${event} comes from AWS account ${origin.account}, not this deployment's account ${account}; not acted on`;
  }
  if (origin.region !== region) {
    return origin.region === undefined
      ? `${event} carries no region, so it cannot be attributed to this deployment's region ${region}; not acted on`
      : `${event} comes from region ${origin.region}, not this deployment's region ${region}; not acted on`;
  }
  for (const ref of [trigger.keyRef, trigger.aliasName]) {
    const arn = ref === undefined ? undefined : parseKmsArn(ref);
    if (arn && (arn.accountId !== account || arn.region !== region)) {
      return `${event} names ${ref}, which is not ${arn.kind === 'alias' ? 'an alias' : 'a key'} of this deployment's account ${account} in ${region}; not acted on`;
    }
  }
  return undefined;
}

/** The key an event names, described in this account; `undefined` when no such key exists here. */
async function resolveEventKey(deps: PlanDeps, ref: string): Promise<KeyFacts | undefined> {
  try {
    return await describeKey(deps.kms, ref);
  } catch (error) {
    if (error instanceof KeyNotFound) return undefined;
    throw error;
  }
}

function unresolvedKeyReason(ref: string, settings: Settings): string {
  return `the event names key ${ref}, which does not resolve to a key of this deployment's account ${settings.deploymentAccountId} in ${settings.deploymentRegion}; not acted on`;
}

const EVENT_WORDS: Record<KeyEventKind, string> = {
  keyRotated: 'key material rotation',
  keyDisabled: 'DisableKey',
  keyDeletionScheduled: 'ScheduleKeyDeletion',
  keyDeleted: 'key deletion',
  keyMaterialExpired: 'imported key material expiration',
};

/**
 * The key the watched alias names, when it differs from `keyArn` and is usable by every workspace in
 * `views`; else `why` there is none (for the error message).
 */
async function findSuccessor(
  deps: PlanDeps,
  keyArn: string,
  views: readonly WorkspaceView[],
): Promise<{ key?: KeyFacts; why: string }> {
  const alias = deps.settings.watchedAlias;
  if (!alias) return { why: 'no watched alias is configured (setting WATCHED_ALIAS)' };
  let key: KeyFacts;
  try {
    key = await describeKey(deps.kms, alias);
  } catch (error) {
    if (error instanceof KeyNotFound) return { why: `the watched alias ${alias} does not exist` };
    throw error;
  }
  if (key.arn === keyArn) return { why: `the watched alias ${alias} still points at this key` };
  for (const view of views) {
    const reason = keyUnusableReason(key, view.region);
    if (reason)
      return { why: `the watched alias ${alias} points at ${key.arn}, which is unusable: ${reason.message}` };
  }
  return { key, why: '' };
}

/**
 * Stateless retention rule: key K is "an old key still inside its retention window" when the account still
 * has a key configuration for K, and a workspace in scope currently uses, for one of that configuration's
 * use cases, a different configuration that was created after K's and less than OLD_KEY_RETENTION_HOURS
 * ago — i.e. the workspace very likely moved off K within the window.
 */
function assertNotWithinRetention(scope: Scope, keyArn: string, what: string, deps: PlanDeps): void {
  const hours = deps.settings.oldKeyRetentionHours;
  const windowStart = deps.now - hours * 3_600_000;
  const oldConfigs = scope.keyConfigs.filter((c) => c.aws_key_info?.key_arn === keyArn);
  const recent: string[] = [];
  for (const old of oldConfigs) {
    for (const view of scope.views) {
      for (const useCase of old.use_cases) {
        const current = useCase === 'MANAGED_SERVICES' ? view.managedServices : view.storage;
        if (!current || current.customer_managed_key_id === old.customer_managed_key_id) continue;
        const created = current.creation_time;
        if (created === undefined || created < windowStart) continue;
        if (old.creation_time !== undefined && created < old.creation_time) continue;
        recent.push(
          `${describeWorkspace(view.workspace)} moved to configuration ${current.customer_managed_key_id} at ${new Date(created).toISOString()}`,
        );
      }
    }
  }
  if (recent.length > 0) {
    throw new OldKeyRetiredTooEarly(
      `KMS key ${keyArn} (${what}) was replaced less than ${hours} h ago: ${[...new Set(recent)].join('; ')}. Data written before the change still needs it; re-enable the key or cancel its deletion until the retention window has passed.`,
      { details: { keyArn, oldKeyRetentionHours: hours } },
    );
  }
}

/** The fields every event-driven plan shares (no target yet). */
function eventDefaults(settings: Settings, trigger: Plan['trigger']): Plan {
  return {
    mode: 'noop',
    dryRun: false,
    reason: '',
    trigger: stripUndefined(trigger),
    target: null,
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    oldKeyRetentionHours: settings.oldKeyRetentionHours,
    storageWaitSeconds: 0,
    emergency: false,
    maxConcurrency: settings.maxConcurrentWorkspaces,
    workspaces: [],
    oldKeyArns: [],
  };
}

function rotationDefaults(
  settings: Settings,
): Omit<RotationRequest, 'trigger' | 'target' | 'targetAlias' | 'why' | 'explicit'> {
  return {
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    oldKeyRetentionHours: settings.oldKeyRetentionHours,
    dryRun: false,
    emergency: false,
    maxConcurrency: settings.maxConcurrentWorkspaces,
  };
}

function noop(base: Plan, reason: string): Plan {
  return { ...base, mode: 'noop', reason, workspaces: [], storageWaitSeconds: 0, oldKeyArns: [] };
}

/** KMS rotated K's material in place: check, without downtime, that every workspace on K is still sound. */
function verifyPlan(
  base: Plan,
  users: readonly WorkspaceView[],
  keyArn: string,
  repairPolicy: boolean,
): Plan {
  assertWorkspaceCount(users.length, base.trigger, `verifying ${keyArn}`);
  const useCases = new Set<KeyUseCase>();
  const workspaces: PlannedWorkspace[] = users.map((view, index) => {
    const uses = useCasesOfKey(view, keyArn);
    for (const u of uses) useCases.add(u);
    return {
      ...plannedBase(view),
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      // Spelled out for the first workspaces only, as in a rotation plan: they read the same for all.
      steps:
        index < STEPS_SPELLED_OUT
          ? [
              `check that the key configuration(s) for ${uses.join(' and ')} still exist and point at ${keyArn}`,
              `check that ${keyArn} is enabled, symmetric, ENCRYPT_DECRYPT and in ${view.region}`,
              repairPolicy
                ? `re-patch the key policy of ${keyArn} if it no longer grants Databricks ${uses.join(' and ')}`
                : `fail with KeyPolicyDrift if the key policy of ${keyArn} no longer grants Databricks ${uses.join(' and ')} (repair not asked)`,
              'touch no compute (no downtime)',
            ]
          : [],
    };
  });
  return {
    ...base,
    mode: 'verify',
    reason: `KMS rotated the key material of ${keyArn} in place (same ARN); verifying ${users.length} workspace(s) that use it`,
    target: { keyArn, keyId: keyIdOf(keyArn), region: keyRegion(keyArn) },
    useCases: [...useCases].sort(),
    workspaces,
    workspaceCount: workspaces.length,
    repairPolicy,
  };
}

function plannedBase(view: WorkspaceView): Omit<PlannedWorkspace, 'changes' | 'storageAdded' | 'steps'> {
  const w = view.workspace;
  return {
    workspaceId: w.workspace_id,
    ...(w.workspace_name ? { workspaceName: w.workspace_name } : {}),
    deploymentName: w.deployment_name ?? '',
    region: view.region,
    current: {
      managedServicesKeyConfigId: w.managed_services_customer_managed_key_id ?? null,
      storageKeyConfigId: w.storage_customer_managed_key_id ?? null,
      managedServicesKeyArn: view.managedServicesKeyArn,
      storageKeyArn: view.storageKeyArn,
    },
  };
}

/**
 * The pure core of a rotation plan: for each workspace decide what changes (managed-services key differs
 * from the target; storage key absent), reject what must not happen (`StorageKeyAlreadySet`,
 * `WorkspaceNotRunning`, the key-usability errors), and leave out workspaces with nothing to change.
 */
export function rotationPlan(
  views: readonly WorkspaceView[],
  settings: Settings,
  request: RotationRequest,
): Plan {
  const { target } = request;
  // Before anything else: a rotation that could outgrow Step Functions' history is refused, not started.
  assertHistoryBudget(settings, request.drainTimeoutMinutes);
  const wantsMs = request.useCases.includes('MANAGED_SERVICES');
  const wantsStorage = request.useCases.includes('STORAGE');
  const planned: PlannedWorkspace[] = [];
  const skipped: string[] = [];
  for (const view of views) {
    const name = describeWorkspace(view.workspace);
    if (!request.explicit && view.region !== target.region) {
      skipped.push(`${name} is in ${view.region || 'an unknown region'}, the key in ${target.region}`);
      continue;
    }
    if (wantsStorage && view.workspace.storage_customer_managed_key_id && view.storageKeyArn !== target.arn) {
      throw new StorageKeyAlreadySet(
        `workspace ${name} already has storage key configuration ${view.workspace.storage_customer_managed_key_id} (${view.storageKeyArn ?? 'unknown key'}); Databricks never replaces a storage key. Request only MANAGED_SERVICES for this workspace.`,
        { details: { workspaceId: view.workspace.workspace_id, field: 'useCases', keyArn: target.arn } },
      );
    }
    const changes = {
      managedServices: wantsMs && view.managedServicesKeyArn !== target.arn,
      storage: wantsStorage && !view.workspace.storage_customer_managed_key_id,
    };
    if (!changes.managedServices && !changes.storage) {
      const leftStopped = request.leftStopped?.get(view.workspace.workspace_id);
      if (leftStopped !== undefined) {
        const wait = leftStopped.restoreAfterSeconds;
        planned.push({
          ...plannedBase(view),
          changes,
          storageAdded: false,
          restoreOnly: true,
          leftStoppedSnapshot: leftStopped.snapshotKey,
          ...(wait > 0 ? { restoreAfterSeconds: wait } : {}),
          steps: [
            `already uses ${target.arn}: nothing to change, but an earlier execution left its compute stopped; restore what its snapshot ${leftStopped.snapshotKey} lists${wait > 0 ? ` once the storage wait that execution began is over (in ${Math.ceil(wait / 60)} min)` : ''}`,
          ],
        });
        continue;
      }
      skipped.push(`${name} already uses ${target.arn} for ${request.useCases.join(' and ')}`);
      continue;
    }
    if (view.workspace.workspace_status !== 'RUNNING') {
      throw new WorkspaceNotRunning(
        `workspace ${name} is ${view.workspace.workspace_status ?? 'in an unknown state'}${view.workspace.workspace_status_message ? ` (${view.workspace.workspace_status_message})` : ''}, not RUNNING; its key can only be changed while it runs. Retry once it is RUNNING. Nothing was touched: a request is refused whole before anything is done, so no workspace of it was rotated (name the others without this one to rotate them now). A workspace that another rotation is updating is PROVISIONING: \`"waitForLock": true\` waits for it.`,
        { details: { workspaceId: view.workspace.workspace_id, status: view.workspace.workspace_status } },
      );
    }
    const unusable = keyUnusableReason(target, view.region);
    if (unusable) {
      Object.assign((unusable as { details?: Record<string, unknown> }).details ?? {}, {
        workspaceId: view.workspace.workspace_id,
      });
      throw unusable;
    }
    planned.push({
      ...plannedBase(view),
      changes,
      storageAdded: changes.storage,
      // The steps in words are for the operator reading a plan: spelled out for the first workspaces only,
      // so a plan of hundreds stays far below Step Functions' 256 KB payload (they read the same for all).
      steps: planned.length < STEPS_SPELLED_OUT ? stepsFor(view, changes, request, settings) : [],
    });
  }
  assertWorkspaceCount(planned.length, request.trigger, `${request.why}: rotating to ${target.arn}`);
  const oldKeyArns = [
    ...new Set(
      planned
        .filter((w) => w.changes.managedServices && w.current.managedServicesKeyArn)
        .map((w) => w.current.managedServicesKeyArn as string),
    ),
  ];
  const storageAdded = planned.some((w) => w.storageAdded);
  const skippedText = skipped.length > 0 ? `; left out: ${skipped.join('; ')}` : '';
  if (planned.length === 0 && views.length === 0) {
    throw new NoWorkspacesInScope(`${request.why}: no workspace is in scope`);
  }
  return {
    mode: planned.length > 0 ? 'rotate' : 'noop',
    resultBudgetBytes: resultBudgetBytes(planned.length),
    dryRun: request.dryRun,
    reason:
      planned.length > 0
        ? `${request.dryRun ? 'dry run, nothing changed: ' : ''}${request.why}: ${request.dryRun ? 'would rotate' : 'rotating'} ${planned.length} workspace(s) to ${target.arn}${restoreOnlyText(planned)}${skippedText}`
        : `${request.dryRun ? 'dry run: ' : ''}${request.why}: nothing to change${skippedText}`,
    workspaceCount: planned.length,
    trigger: stripUndefined(request.trigger),
    target: {
      keyArn: target.arn,
      keyId: target.keyId,
      region: target.region,
      ...(request.targetAlias ? { keyAlias: request.targetAlias } : {}),
    },
    useCases: request.useCases,
    reuseKeyForClusterVolumes: request.reuseKeyForClusterVolumes,
    activeRuns: request.activeRuns,
    drainTimeoutMinutes: request.drainTimeoutMinutes,
    oldKeyRetentionHours: request.oldKeyRetentionHours,
    storageWaitSeconds: storageAdded ? settings.storageWaitMinutes * 60 : 0,
    emergency: request.emergency,
    maxConcurrency: request.maxConcurrency,
    workspaces: planned,
    oldKeyArns,
  };
}

/**
 * DESIGN §6.10: one execution carries at most `LIMITS.workspaceIds` workspaces, whatever names them — the
 * `workspaceIds` list and WORKSPACE_IDS are bounded by their schemas, but `"allWorkspaces": true` and an
 * event without WORKSPACE_IDS reach whatever the account holds. More would outgrow the parent's history and
 * 256 KB state after rotating them all, so the plan refuses, before anything is touched, and says how to
 * split the work.
 */
function assertWorkspaceCount(count: number, trigger: Plan['trigger'], what: string): void {
  if (count <= LIMITS.workspaceIds) return;
  const manual = trigger.kind === 'manual';
  const field = manual ? 'allWorkspaces' : 'WORKSPACE_IDS';
  const split = manual
    ? `name them in batches of at most ${LIMITS.workspaceIds} ("workspaceIds": [...]) and start one execution per batch`
    : `set the deployment's WORKSPACE_IDS to at most ${LIMITS.workspaceIds} of them, and start manual executions naming the others in batches of at most ${LIMITS.workspaceIds} ("workspaceIds": [...])`;
  throw new InvalidInput(
    `${what} would take ${count} workspaces into one execution; at most ${LIMITS.workspaceIds} fit (Step Functions' 256 KB state and 25,000-event history), so nothing was touched. To go on, ${split}.`,
    { details: { field, workspaceCount: count, limit: LIMITS.workspaceIds } },
  );
}

/**
 * Bytes each workspace's result may take in the rotation's state: the results of all workspaces share about
 * 150 KB of the 256 KB a state may hold (the rest is the plan), from 5,000 bytes each for a few workspaces
 * down to 150 (id, status, error name, whether compute was restored) for a thousand.
 */
export function resultBudgetBytes(workspaces: number): number {
  return Math.max(150, Math.min(5_000, Math.floor(150_000 / Math.max(1, workspaces))));
}

/** Workspaces of a plan whose steps are spelled out (`PlannedWorkspace.steps`); the others' are empty. */
export const STEPS_SPELLED_OUT = 20;

function stepsFor(
  view: WorkspaceView,
  changes: PlannedWorkspace['changes'],
  request: RotationRequest,
  settings: Settings,
): string[] {
  const arn = request.target.arn;
  const uses = [changes.managedServices && 'MANAGED_SERVICES', changes.storage && 'STORAGE'].filter(
    (u): u is string => typeof u === 'string',
  );
  const runs = {
    wait: `let active job runs finish (up to ${request.drainTimeoutMinutes} min), then stop`,
    cancel: request.emergency
      ? 'cancel active job runs (emergency: the current key is going away)'
      : 'cancel active job runs',
    fail: 'fail if job runs are active',
  }[request.activeRuns];
  const steps = [
    `check that ${arn} is enabled, symmetric, ENCRYPT_DECRYPT and in ${view.region}`,
    `patch the key policy of ${arn} so Databricks may use it for ${uses.join(' and ')} (no change when already granted)`,
    `register a key configuration for ${arn} with use cases ${uses.join(', ')} (or reuse an identical one)`,
    `pause job schedules; ${runs}`,
    'stop all-purpose clusters, SQL warehouses, pipelines and pool idle instances (counted when stopping)',
  ];
  if (changes.managedServices) {
    steps.push(
      `update managed_services_customer_managed_key_id (now ${view.workspace.managed_services_customer_managed_key_id ?? 'none'})`,
    );
  }
  if (changes.storage)
    steps.push('set storage_customer_managed_key_id (first storage key: it can never be changed)');
  steps.push('wait until the workspace is RUNNING and shows the new key configuration');
  if (changes.storage)
    steps.push(`wait ${settings.storageWaitMinutes} min (storage added) before starting compute`);
  steps.push('restart what was stopped and unpause the paused schedules');
  if (changes.managedServices && view.managedServicesKeyArn) {
    steps.push(
      `keep the old key ${view.managedServicesKeyArn} usable for at least ${request.oldKeyRetentionHours} h`,
    );
  }
  return steps;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
