import type { AccountApi } from '../databricks/api.ts';
import type { Workspace } from '../databricks/types.ts';
import { WorkspaceUpdateFailed, WorkspaceUpdateReverted, WorkspaceUpdateTimedOut } from './errors.ts';
import type { CheckItem, WorkspaceCheckResult } from './schemas.ts';

/**
 * Judges one poll of the workspace after the key update (pure). `RUNNING` counts only when every updated
 * field shows the new configuration id: a 200 from the PATCH proves nothing and failed updates can
 * silently revert. Throws `WorkspaceUpdateFailed` (FAILED/BANNED), `WorkspaceUpdateReverted` (RUNNING on
 * the old ids after PROVISIONING was seen, or at the deadline), `WorkspaceUpdateTimedOut` (still not
 * RUNNING at the deadline).
 */
export function judgeWorkspace(workspace: Workspace, item: CheckItem, now: number): WorkspaceCheckResult {
  const id = item.workspace.workspaceId;
  const newId = item.keyConfig.customerManagedKeyId;
  const status = workspace.workspace_status ?? 'UNKNOWN';
  const sawProvisioning = (item.workspaceCheck?.sawProvisioning ?? false) || status === 'PROVISIONING';
  const showsNew = item.update.fields.every((f) => workspace[f] === newId);
  const shown = item.update.fields.map((f) => `${f}=${String(workspace[f] ?? null)}`).join(', ');
  const details = {
    workspaceId: id,
    workspaceStatus: status,
    keyConfigId: newId,
    fields: item.update.fields,
  };

  if (status === 'FAILED' || status === 'BANNED') {
    throw new WorkspaceUpdateFailed(
      `workspace ${id} is ${status} after the key update: ${workspace.workspace_status_message ?? 'no status message'}. Compute will be restored; check the workspace in the account console and the key policy of ${item.target.keyArn}.`,
      { details: { ...details, message: workspace.workspace_status_message } },
    );
  }
  if (status === 'RUNNING' && showsNew)
    return { status: 'RUNNING', workspaceStatus: status, sawProvisioning, runningAt: now };
  const pastDeadline = now > item.update.deadline;
  if (status === 'RUNNING' && (item.workspaceCheck?.sawProvisioning || pastDeadline)) {
    throw new WorkspaceUpdateReverted(
      `workspace ${id} is RUNNING again but still shows ${shown}, not ${newId}: Databricks silently reverted the key update${pastDeadline && !item.workspaceCheck?.sawProvisioning ? ` (no change within the deadline; customer-managed VPC workspaces stay RUNNING while updating)` : ''}. Compute will be restored; the workspace keeps its old key. Check the key policy and retry.`,
      { details },
    );
  }
  if (pastDeadline) {
    throw new WorkspaceUpdateTimedOut(
      `workspace ${id} is still ${status} (${shown}) ${Math.round((now - item.update.patchedAt) / 60_000)} min after the key update, past the deadline; compute will be restored. Check the workspace in the account console.`,
      { details },
    );
  }
  return { status: 'WAITING', workspaceStatus: status, sawProvisioning };
}

/** Reads the workspace once and judges it (see `judgeWorkspace`). */
export async function checkWorkspace(
  account: AccountApi,
  item: CheckItem,
  now: number,
): Promise<WorkspaceCheckResult> {
  return judgeWorkspace(await account.getWorkspace(item.workspace.workspaceId), item, now);
}
