import type { AccountApi } from '../databricks/api.ts';
import { isDeferred } from '../databricks/errors.ts';
import type { Workspace } from '../databricks/types.ts';
import { RotatorError } from '../errors.ts';
import { logger } from '../log.ts';
import { WorkspaceUpdateFailed, WorkspaceUpdateReverted, WorkspaceUpdateTimedOut } from './errors.ts';
import type { CheckItem, KeyField, WorkspaceCheckResult } from './schemas.ts';
import { hasCustomerNetwork } from './update.ts';

/**
 * The workspace was already updating when the rotation came to change its key (its own earlier attempt whose
 * answer was lost, or someone else's change), so the rotation sent no PATCH of its own; that update ended and
 * the workspace still shows its previous key configuration. Not called "reverted": nothing proves that the
 * update which ended was this rotation's.
 */
export class WorkspaceKeyUnchanged extends RotatorError {}

/**
 * Judges one poll of the workspace after the key update (pure). `RUNNING` counts only when every updated
 * field shows the new configuration id: a 200 from the PATCH proves nothing and failed updates can
 * silently revert. A revert is decided only from what Databricks showed: the update was seen (PROVISIONING,
 * or a field showing the new id) and the workspace is RUNNING without it. A workspace that never showed the
 * update — a customer-managed VPC stays RUNNING on its old ids while the key changes — is not over for being
 * RUNNING: it is waited for, and at the deadline it is `WorkspaceUpdateTimedOut` (recovery then keeps compute
 * stopped). Throws `WorkspaceUpdateFailed` (FAILED/BANNED), `WorkspaceUpdateReverted`,
 * `WorkspaceKeyUnchanged` (an update this step did not send ended without the new key) or
 * `WorkspaceUpdateTimedOut`.
 */
export function judgeWorkspace(workspace: Workspace, item: CheckItem, now: number): WorkspaceCheckResult {
  const id = item.workspace.workspaceId;
  const newId = item.keyConfig.customerManagedKeyId;
  const previous = item.workspaceCheck;
  const status = workspace.workspace_status ?? 'UNKNOWN';
  const sawProvisioning = (previous?.sawProvisioning ?? false) || status === 'PROVISIONING';
  const fields = item.update.fields;
  const showsNew = fields.every((f) => workspace[f] === newId);
  const sawNewIn = fields.filter((f) => previous?.sawNewIn?.includes(f) || workspace[f] === newId);
  const wentBack = (previous?.sawNewIn ?? []).filter((f) => workspace[f] !== newId);
  const shown = fields.map((f) => `${f}=${String(workspace[f] ?? null)}`).join(', ');
  const details = {
    workspaceId: id,
    workspaceStatus: status,
    keyConfigId: newId,
    fields,
  };

  if (status === 'FAILED' || status === 'BANNED') {
    throw new WorkspaceUpdateFailed(
      `workspace ${id} is ${status} after the key update: ${workspace.workspace_status_message ?? 'no status message'}. Compute will be restored; check the workspace in the account console and the key policy of ${item.target.keyArn}.`,
      { details: { ...details, message: workspace.workspace_status_message } },
    );
  }
  if (status === 'RUNNING' && showsNew)
    return { status: 'RUNNING', workspaceStatus: status, sawProvisioning, runningAt: now, ...seen(sawNewIn) };
  const pastDeadline = now > item.update.deadline;
  if (status === 'RUNNING' && (previous?.sawProvisioning || wentBack.length > 0)) {
    if (item.update.inProgress && wentBack.length === 0) {
      throw new WorkspaceKeyUnchanged(
        `workspace ${id} was already updating when the rotation came to change its key (this rotation's own earlier attempt whose answer was lost, or someone else's change), so the rotation sent no PATCH of its own; that update has ended and the workspace is RUNNING with ${shown}, not ${newId}. The key was not changed. Compute will be restored; check who else changes this workspace, then run the rotation again.`,
        { details: { ...details, inProgress: true } },
      );
    }
    const how =
      wentBack.length > 0
        ? `${wentBack.join(', ')} showed ${newId} and no longer does`
        : 'it was seen PROVISIONING';
    throw new WorkspaceUpdateReverted(
      `workspace ${id} is RUNNING again but still shows ${shown}, not ${newId}: Databricks silently reverted the key update (${how}). Compute will be restored; the workspace keeps its old key. Check the key policy and retry.`,
      { details: { ...details, ...(wentBack.length > 0 ? { wentBack } : {}) } },
    );
  }
  const minutes = Math.round((now - item.update.patchedAt) / 60_000);
  if (status === 'RUNNING' && pastDeadline) {
    // Never seen updating: a customer-managed VPC stays RUNNING while Databricks applies the change, so this
    // says nothing about whether the update is over. Recovery keeps compute stopped and goes on waiting.
    const network = hasCustomerNetwork(workspace)
      ? `It has a customer-managed VPC (network ${String(workspace.network_id)}), whose status stays RUNNING while the key changes`
      : 'Databricks never showed it updating (PROVISIONING), as for a customer-managed VPC, whose status stays RUNNING while the key changes';
    throw new WorkspaceUpdateTimedOut(
      `workspace ${id} is RUNNING but does not show ${newId} yet (${shown}) ${minutes} min after the key update, past the deadline. ${network}: Databricks does not show whether the update is still in progress, so it cannot be called over. Compute stays stopped while recovery waits for the key id to change (RECOVERY_WORKSPACE_WAIT_MINUTES); check the workspace in the account console.`,
      { details: { ...details, customerNetwork: hasCustomerNetwork(workspace) } },
    );
  }
  if (pastDeadline) {
    throw new WorkspaceUpdateTimedOut(
      `workspace ${id} is still ${status} (${shown}) ${minutes} min after the key update, past the deadline; compute will be restored once Databricks shows the update over. Check the workspace in the account console.`,
      { details },
    );
  }
  return { status: 'WAITING', workspaceStatus: status, sawProvisioning, ...seen(sawNewIn) };
}

/** `sawNewIn` only when some field showed the new id (the result stays as small as before otherwise). */
function seen(fields: KeyField[]): { sawNewIn?: KeyField[] } {
  return fields.length > 0 ? { sawNewIn: fields } : {};
}

/**
 * Reads the workspace once and judges it (see `judgeWorkspace`). A read Databricks throttled (or that the
 * invocation's time ran out waiting for) teaches nothing: the poll says WAITING (`throttled`) and the next
 * one looks again — throttling is a speed, not a failure. Past the update deadline it is a timeout.
 */
export async function checkWorkspace(
  account: AccountApi,
  item: CheckItem,
  now: number,
): Promise<WorkspaceCheckResult> {
  let workspace: Workspace;
  try {
    workspace = await account.getWorkspace(item.workspace.workspaceId);
  } catch (error) {
    if (!isDeferred(error)) throw error;
    return throttledPoll(item, now, error as Error);
  }
  return judgeWorkspace(workspace, item, now);
}

function throttledPoll(item: CheckItem, now: number, error: Error): WorkspaceCheckResult {
  const id = item.workspace.workspaceId;
  const previous = item.workspaceCheck;
  if (now > item.update.deadline) {
    throw new WorkspaceUpdateTimedOut(
      `workspace ${id} could not be read past the update deadline, ${Math.round((now - item.update.patchedAt) / 60_000)} min after the key update (${error.name}: ${error.message.slice(0, 300)}); recovery waits until Databricks shows the update over before restoring compute.`,
      { details: { workspaceId: id, error: error.name } },
    );
  }
  logger.warn('the workspace read was throttled: looking again at the next poll', {
    workspaceId: id,
    errorName: error.name,
  });
  return {
    status: 'WAITING',
    ...(previous?.workspaceStatus === undefined ? {} : { workspaceStatus: previous.workspaceStatus }),
    sawProvisioning: previous?.sawProvisioning ?? false,
    ...seen(previous?.sawNewIn ?? []),
    throttled: true,
  };
}
