import type { SdkClient } from '../aws/clients.ts';
import type { AccountApi } from '../databricks/api.ts';
import { DatabricksApiError, DatabricksUnavailable } from '../databricks/errors.ts';
import type { Workspace, WorkspaceKeyChange } from '../databricks/types.ts';
import { realTimeLeftMs } from '../deadline.ts';
import { TransientError } from '../errors.ts';
import { databricksGrantFor } from '../kms/grant.ts';
import { assertKeyUsable, describeKey } from '../kms/key.ts';
import { readKeyPolicy } from '../kms/key-policy.ts';
import { missingDatabricksGrants } from '../kms/policy.ts';
import { databricksDenials, describeDenials } from '../kms/policy-eval.ts';
import { logger } from '../log.ts';
import type { PlannedWorkspace } from '../rotation.ts';
import type { Settings } from '../settings.ts';
import {
  KeyPolicyDeniesDatabricks,
  KeyPolicyMissingDatabricksGrant,
  StorageKeyAlreadySet,
  WorkspaceNotRunning,
} from './errors.ts';
import type { KeyField, UpdateItem, WorkspaceUpdateResult } from './schemas.ts';

export interface UpdateDeps {
  account: AccountApi;
  kms: SdkClient;
  settings: Settings;
  /** Epoch ms now (the run's clock). */
  now: number;
}

/** The workspace fields the planned change sets. */
export function keyFieldsOf(changes: PlannedWorkspace['changes']): KeyField[] {
  const fields: KeyField[] = [];
  if (changes.managedServices) fields.push('managed_services_customer_managed_key_id');
  if (changes.storage) fields.push('storage_customer_managed_key_id');
  return fields;
}

/** The fields that do not show `keyConfigId` yet: only those are PATCHed (a PATCH to the same value is skipped). */
export function pendingFields(
  workspace: Workspace,
  fields: readonly KeyField[],
  keyConfigId: string,
): KeyField[] {
  return fields.filter((f) => workspace[f] !== keyConfigId);
}

/**
 * Words carried by every error of this step that leaves no key update started: nothing was sent, or
 * Databricks refused the PATCH. Recovery reads them (lib/workspace/settle.ts): a customer-managed VPC shows
 * no sign of an update in progress, so only this says that there is none to wait for.
 */
export const NO_UPDATE_STARTED = 'No key update was started';

/**
 * The named refusals this step raises before the PATCH (their messages already say that nothing was
 * changed): recovery knows from the name alone that no key update was started.
 */
export const REFUSED_BEFORE_PATCH: ReadonlySet<string> = new Set([
  'StorageKeyAlreadySet',
  'WorkspaceNotRunning',
  'KeyPolicyDeniesDatabricks',
  'KeyPolicyMissingDatabricksGrant',
  'KeyNotFound',
  'KeyDisabled',
  'KeyInvalidState',
  'KeyNotSymmetric',
  'KeyWrongUsage',
  'KeyRegionMismatch',
  'KeyPolicyUnparseable',
  'KmsAccessDenied',
  'InvalidInput',
]);

/**
 * Real time the invocation must still have to send the PATCH: its answer, and after a lost one a re-read and
 * one resend. With less, the PATCH is not sent (a retryable error, nothing started) rather than sent with an
 * answer likely to be lost when Lambda stops the invocation.
 */
export const PATCH_MIN_TIME_MS = 10_000;

/**
 * A workspace with a customer-managed VPC (`network_id`): its status stays RUNNING while a key change is
 * applied and only the key-id fields change at the end (reference: the running-workspace update), so
 * Databricks shows no update in progress.
 */
export function hasCustomerNetwork(workspace: Workspace): boolean {
  return typeof workspace.network_id === 'string' && workspace.network_id !== '';
}

/**
 * Points the workspace at the new key configuration (DESIGN §4 step 5) — but only after re-checking,
 * right before the PATCH, everything DESIGN §6.2 demands: the workspace runs, a storage key is not being
 * replaced, the key is enabled/symmetric/ENCRYPT_DECRYPT/in the workspace's region, and its policy grants
 * Databricks the use cases. Any failed check raises a named error and nothing is sent. Safe to run twice:
 * fields already showing the new id are not sent again, and an update already under way (PROVISIONING, or
 * Databricks answering that an update is in progress — a Lambda retry after this step's own PATCH took
 * effect) is waited for, not repeated (`inProgress`).
 */
export async function updateWorkspaceKey(item: UpdateItem, deps: UpdateDeps): Promise<WorkspaceUpdateResult> {
  const id = item.workspace.workspaceId;
  const newId = item.keyConfig.customerManagedKeyId;
  const fields = keyFieldsOf(item.workspace.changes);
  const deadline = deps.now + deps.settings.workspaceUpdateTimeoutMinutes * 60_000;
  const skip: WorkspaceUpdateResult = {
    patched: false,
    fields,
    sentFields: [],
    patchedAt: deps.now,
    deadline,
  };

  let ready: { done: WorkspaceUpdateResult } | { pending: KeyField[] };
  try {
    ready = await checkBeforePatch(item, deps, { id, newId, fields, skip });
  } catch (error) {
    throw nothingStarted(retryable(error), `nothing was sent to Databricks for workspace ${id}`);
  }
  if ('done' in ready) return ready.done;

  const change: WorkspaceKeyChange = {};
  for (const field of ready.pending) change[field] = newId;
  const sent = { patched: true, fields, sentFields: ready.pending, patchedAt: deps.now, deadline };
  try {
    await deps.account.updateWorkspaceKeys(id, change);
    return sent;
  } catch (error) {
    if (error instanceof DatabricksApiError && error.errorCode === 'TIME_BUDGET_EXHAUSTED') {
      // The client gave up before trying the PATCH at all: the invocation's time ran out first.
      throw nothingStarted(retryable(error), `the PATCH of workspace ${id} was not sent, time ran out first`);
    }
    if (updateInProgress(error)) {
      logger.warn('Databricks answered that an update is in progress: waiting for it, not PATCHing again', {
        workspaceId: id,
        apiMessage: error.apiMessage.slice(0, 300),
      });
      return { ...sent, patched: false, sentFields: [], inProgress: true };
    }
    const refused = refusedForCompute(error, item);
    if (refused) return { ...sent, patched: false, sentFields: [], refused };
    return { ...sent, ...(await reconcileLostPatch(error, { id, fields, newId, change, item, deps })) };
  }
}

/**
 * Everything before the PATCH: the workspace re-read and the key re-checked. `done`: nothing is to be sent
 * (already applied, or an update already under way); `pending`: the fields to PATCH.
 */
async function checkBeforePatch(
  item: UpdateItem,
  deps: UpdateDeps,
  x: { id: number; newId: string; fields: KeyField[]; skip: WorkspaceUpdateResult },
): Promise<{ done: WorkspaceUpdateResult } | { pending: KeyField[] }> {
  const { id, newId } = x;
  const workspace = await deps.account.getWorkspace(id);
  const pending = pendingFields(workspace, x.fields, newId);
  if (pending.length === 0) return { done: { ...x.skip, alreadyApplied: true } };

  const currentStorage = workspace.storage_customer_managed_key_id;
  if (pending.includes('storage_customer_managed_key_id') && currentStorage) {
    throw new StorageKeyAlreadySet(
      `workspace ${id} got storage key configuration ${currentStorage} after the plan was made; Databricks never replaces a storage key, so ${newId} is not applied. Nothing was changed.`,
      { details: { workspaceId: id, current: currentStorage, wanted: newId } },
    );
  }
  // An update already in flight shows PROVISIONING (a Databricks-managed VPC): this step's earlier attempt
  // whose answer was lost, or someone else's change. Do not PATCH now; check-workspace waits for its end and
  // decides from the outcome (it does not call an update this step never sent "reverted").
  if (workspace.workspace_status === 'PROVISIONING') return { done: { ...x.skip, inProgress: true } };
  if (workspace.workspace_status !== 'RUNNING') {
    throw new WorkspaceNotRunning(
      `workspace ${id} is ${workspace.workspace_status ?? 'in an unknown state'}, not RUNNING; its key is not changed. Nothing was changed.`,
      { details: { workspaceId: id, status: workspace.workspace_status } },
    );
  }

  const key = await describeKey(deps.kms, item.target.keyArn);
  assertKeyUsable(key, workspace.aws_region ?? item.workspace.region);
  const policy = await readKeyPolicy(deps.kms, item.target.keyArn);
  // DESIGN §6.9: an explicit Deny that applies to Databricks wins over every Allow, as KMS evaluates it.
  const denials = databricksDenials(policy, {
    databricksPrincipalArn: deps.settings.databricksPrincipalArn,
    accountIds: deps.settings.policyAccountIds,
    keyArn: item.target.keyArn,
    useCases: item.keyConfig.useCases,
  });
  if (denials.length > 0) {
    throw new KeyPolicyDeniesDatabricks(
      `the policy of KMS key ${item.target.keyArn} explicitly denies Databricks: ${describeDenials(denials)}; workspace ${id} is not updated, nothing was PATCHed. A Deny overrides every Allow, so Databricks (${deps.settings.databricksPrincipalArn}) could not use the key: remove those statements or narrow them so they do not apply to Databricks for these actions (or choose another key), then re-run.`,
      { details: { workspaceId: id, keyArn: item.target.keyArn, denials } },
    );
  }
  // The control-plane statements are what Databricks needs the moment the key id changes. A storage key
  // that also encrypts cluster volumes needs the EBS statement naming this workspace's cross-account role
  // too: workspaces sharing a key are patched at once and KMS has no conditional write, so another
  // workspace's patch can have overwritten it after this workspace's patch step read it back.
  const ebs =
    item.reuseKeyForClusterVolumes &&
    item.keyConfig.useCases.includes('STORAGE') &&
    pending.includes('storage_customer_managed_key_id');
  const grant = ebs
    ? await databricksGrantFor({
        useCases: item.keyConfig.useCases,
        reuseKeyForClusterVolumes: true,
        workspaceId: id,
        settings: deps.settings,
        account: deps.account,
        keyArn: item.target.keyArn,
      })
    : {
        useCases: item.keyConfig.useCases,
        databricksPrincipalArn: deps.settings.databricksPrincipalArn,
        accountIds: deps.settings.policyAccountIds,
        reuseKeyForClusterVolumes: false,
      };
  const missing = missingDatabricksGrants(policy, grant);
  if (missing.length > 0) {
    throw new KeyPolicyMissingDatabricksGrant(
      `the policy of KMS key ${item.target.keyArn} does not grant Databricks ${missing.join('; ')}; workspace ${id} is not updated. Someone changed the policy after the patch step (or, for a key several workspaces share, another workspace's patch overwrote this one's): restore the Databricks statement(s) and re-run.`,
      { details: { workspaceId: id, keyArn: item.target.keyArn, missing } },
    );
  }
  // DESIGN §6.8 / issue 14.8: the re-checks may have spent the invocation's time (throttling, slow answers).
  const left = realTimeLeftMs();
  if (left !== undefined && left < PATCH_MIN_TIME_MS) {
    throw new TransientError(
      `workspace ${id}: only ${Math.max(0, Math.round(left))} ms of this invocation's time are left, too little to send the key update and read its answer; the state machine runs the step again.`,
      { details: { workspaceId: id, timeLeftMs: Math.round(left) } },
    );
  }
  return { pending };
}

/**
 * A Databricks outage or the invocation's time running out (`DatabricksUnavailable`) where running the step
 * again is safe, as `TransientError`, the name the state machine retries this step on. The step's own
 * `DatabricksUnavailable` means something else: Databricks answered the PATCH with a 5xx and did not take it
 * (the error stands, the compensation path restores compute).
 */
function retryable(error: unknown): unknown {
  if (!(error instanceof DatabricksUnavailable)) return error;
  return new TransientError(error.message, { cause: error, details: error.details });
}

/**
 * `error` with `NO_UPDATE_STARTED` (and why) added to its message, so recovery knows there is no update to
 * wait for; the step's named refusals (`REFUSED_BEFORE_PATCH`) already say so and are left as they are.
 */
function nothingStarted(error: unknown, why: string): unknown {
  if (!(error instanceof Error) || REFUSED_BEFORE_PATCH.has(error.name)) return error;
  if (!error.message.includes(NO_UPDATE_STARTED))
    error.message = `${error.message}. ${NO_UPDATE_STARTED}: ${why}.`;
  return error;
}

/**
 * Databricks refuses a change while another update of the workspace is under way (400 INVALID_STATE, "…has an
 * update in progress…"). For a customer-managed VPC, whose status stays RUNNING, it is the only sign of an
 * update in progress: after a lost answer or a Lambda retry it is this step's own PATCH at work.
 */
export function updateInProgress(error: unknown): error is DatabricksApiError {
  return (
    error instanceof DatabricksApiError &&
    error.status >= 400 &&
    error.status < 500 &&
    error.errorCode === 'INVALID_STATE' &&
    /\bupdates?\b[^.;]*\bin progress\b|\bin progress\b[^.;]*\bupdate/i.test(error.apiMessage)
  );
}

/** Databricks refusing the key change this many times because compute runs fails the rotation. */
export const MAX_COMPUTE_REFUSALS = 3;

/**
 * Databricks refuses the key change while classic compute runs in the workspace's VPC (400 INVALID_STATE,
 * reference: the update's precondition). Something started between the re-check and the PATCH (a user, a
 * schedule of another tool): nothing changed, so the state machine goes back to stopping compute and tries
 * again — at most `MAX_COMPUTE_REFUSALS` times, then the refusal fails the rotation (and compute is restored).
 */
function refusedForCompute(error: unknown, item: UpdateItem): WorkspaceUpdateResult['refused'] | undefined {
  if (!(error instanceof DatabricksApiError) || error.status !== 400 || error.errorCode !== 'INVALID_STATE') {
    return undefined;
  }
  const before = (item as { update?: { refused?: { attempts?: number } } }).update?.refused?.attempts ?? 0;
  if (before + 1 > MAX_COMPUTE_REFUSALS) {
    throw nothingStarted(error, `Databricks refused the PATCH ${before + 1} times because compute runs`);
  }
  logger.warn('Databricks refused the key change while compute runs: stopping compute again', {
    workspaceId: item.workspace.workspaceId,
    attempt: before + 1,
  });
  return { attempts: before + 1, message: error.apiMessage.slice(0, 300) };
}

/**
 * DESIGN §4, issue "a PATCH whose answer was lost is reconciled, not repeated": the client never repeats a
 * PATCH by itself. When its answer is lost (a network error or timeout) or is a 5xx (it may have taken
 * effect), re-read the workspace and go on from what Databricks shows: the new id pending or applied
 * (PROVISIONING, or the field shows it) → the update is under way, wait for it. Unchanged and RUNNING after a
 * lost answer → send it again, once: either it never arrived and now does, or Databricks answers that an
 * update is in progress (a customer-managed VPC stays RUNNING while the first one is applied) → wait for it.
 * Unchanged and RUNNING after a 5xx: for a Databricks-managed VPC, which shows every update as PROVISIONING,
 * Databricks did not take it and the error stands (the compensation path restores compute); a
 * customer-managed VPC shows nothing, so it is asked the same way as after a lost answer. A 4xx is a refusal:
 * nothing was started. Any other error is not ours to judge.
 */
async function reconcileLostPatch(
  error: unknown,
  x: {
    id: number;
    fields: KeyField[];
    newId: string;
    change: WorkspaceKeyChange;
    item: UpdateItem;
    deps: UpdateDeps;
  },
): Promise<Partial<WorkspaceUpdateResult>> {
  if (!(error instanceof DatabricksApiError)) throw error;
  if (error.status !== 0 && error.status < 500) {
    throw nothingStarted(error, `Databricks refused the PATCH (${error.status} ${error.errorCode})`);
  }
  // The PATCH may have taken effect: if the workspace cannot be read now, the step runs again and reads first.
  const after = await x.deps.account.getWorkspace(x.id).catch((e: unknown) => {
    throw retryable(e);
  });
  const applied = pendingFields(after, x.fields, x.newId).length === 0;
  if (after.workspace_status === 'PROVISIONING' || applied) {
    logger.warn('workspace PATCH answer lost; the workspace shows the update, so it is not repeated', {
      workspaceId: x.id,
      workspaceStatus: after.workspace_status,
      errorCode: error.errorCode,
    });
    return { reconciled: after.workspace_status === 'PROVISIONING' ? 'provisioning' : 'applied' };
  }
  if (after.workspace_status !== 'RUNNING' || (error.status !== 0 && !hasCustomerNetwork(after))) throw error;
  logger.warn('workspace PATCH answer lost or 5xx and the workspace shows no change: sending it once more', {
    workspaceId: x.id,
    errorCode: error.errorCode,
    customerNetwork: hasCustomerNetwork(after),
  });
  try {
    await x.deps.account.updateWorkspaceKeys(x.id, x.change);
    return { reconciled: 'resent' };
  } catch (again) {
    if (updateInProgress(again)) {
      logger.warn('the resent PATCH found an update in progress: the first one took effect, waiting for it', {
        workspaceId: x.id,
        apiMessage: again.apiMessage.slice(0, 300),
      });
      return { reconciled: 'in-progress', inProgress: true };
    }
    const refused = refusedForCompute(again, x.item);
    if (refused) return { patched: false, sentFields: [], refused };
    throw again;
  }
}
