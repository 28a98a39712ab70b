import type { SdkClient } from '../aws/clients.ts';
import type { AccountApi } from '../databricks/api.ts';
import { DatabricksApiError } from '../databricks/errors.ts';
import type { Workspace, WorkspaceKeyChange } from '../databricks/types.ts';
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
 * Points the workspace at the new key configuration (DESIGN §4 step 5) — but only after re-checking,
 * right before the PATCH, everything DESIGN §6.2 demands: the workspace runs, a storage key is not being
 * replaced, the key is enabled/symmetric/ENCRYPT_DECRYPT/in the workspace's region, and its policy grants
 * Databricks the use cases. Any failed check raises a named error and nothing is sent. Safe to run twice:
 * fields already showing the new id are not sent again.
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

  const workspace = await deps.account.getWorkspace(id);
  const pending = pendingFields(workspace, fields, newId);
  if (pending.length === 0) return { ...skip, alreadyApplied: true };

  const currentStorage = workspace.storage_customer_managed_key_id;
  if (pending.includes('storage_customer_managed_key_id') && currentStorage) {
    throw new StorageKeyAlreadySet(
      `workspace ${id} got storage key configuration ${currentStorage} after the plan was made; Databricks never replaces a storage key, so ${newId} is not applied. Nothing was changed.`,
      { details: { workspaceId: id, current: currentStorage, wanted: newId } },
    );
  }
  // An update already in flight (e.g. this step's earlier attempt whose answer was lost) shows PROVISIONING:
  // do not PATCH again; check-workspace decides from the outcome.
  if (workspace.workspace_status === 'PROVISIONING') return skip;
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
  // The EBS statement names the workspace's cross-account role and is written by patch-key-policy; the
  // control-plane statements are what Databricks needs the moment the key id changes.
  const missing = missingDatabricksGrants(policy, {
    useCases: item.keyConfig.useCases,
    databricksPrincipalArn: deps.settings.databricksPrincipalArn,
    accountIds: deps.settings.policyAccountIds,
    reuseKeyForClusterVolumes: false,
  });
  if (missing.length > 0) {
    throw new KeyPolicyMissingDatabricksGrant(
      `the policy of KMS key ${item.target.keyArn} does not grant Databricks ${missing.join('; ')}; workspace ${id} is not updated. Someone changed the policy after the patch step: restore the Databricks statement(s) and re-run.`,
      { details: { workspaceId: id, keyArn: item.target.keyArn, missing } },
    );
  }

  const change: WorkspaceKeyChange = {};
  for (const field of pending) change[field] = newId;
  const sent = { patched: true, fields, sentFields: pending, patchedAt: deps.now, deadline };
  try {
    await deps.account.updateWorkspaceKeys(id, change);
    return sent;
  } catch (error) {
    const refused = refusedForCompute(error, item);
    if (refused) return { ...sent, patched: false, sentFields: [], refused };
    return { ...sent, ...(await reconcileLostPatch(error, { id, fields, newId, change, deps })) };
  }
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
  if (before + 1 > MAX_COMPUTE_REFUSALS) throw error;
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
 * (PROVISIONING, or the field shows it) → the update is under way, wait for it. Unchanged and RUNNING after
 * a lost answer → the PATCH never arrived: send it again, once. Unchanged after a 5xx → the error stands
 * (Databricks refused it; the compensation path restores compute). Any other error is not ours to judge.
 */
async function reconcileLostPatch(
  error: unknown,
  x: { id: number; fields: KeyField[]; newId: string; change: WorkspaceKeyChange; deps: UpdateDeps },
): Promise<Pick<WorkspaceUpdateResult, 'reconciled'>> {
  if (!(error instanceof DatabricksApiError) || (error.status !== 0 && error.status < 500)) throw error;
  const after = await x.deps.account.getWorkspace(x.id);
  const applied = pendingFields(after, x.fields, x.newId).length === 0;
  if (after.workspace_status === 'PROVISIONING' || applied) {
    logger.warn('workspace PATCH answer lost; the workspace shows the update, so it is not repeated', {
      workspaceId: x.id,
      workspaceStatus: after.workspace_status,
      errorCode: error.errorCode,
    });
    return { reconciled: after.workspace_status === 'PROVISIONING' ? 'provisioning' : 'applied' };
  }
  if (error.status === 0 && after.workspace_status === 'RUNNING') {
    logger.warn('workspace PATCH answer lost and the workspace is unchanged: sending it once more', {
      workspaceId: x.id,
      errorCode: error.errorCode,
    });
    await x.deps.account.updateWorkspaceKeys(x.id, x.change);
    return { reconciled: 'resent' };
  }
  throw error;
}
