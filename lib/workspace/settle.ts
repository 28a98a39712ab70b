import * as z from 'zod';
import { StopResultSchema } from '../compute/model.ts';
import type { AccountApi } from '../databricks/api.ts';
import type { Workspace } from '../databricks/types.ts';
import { RotatorError } from '../errors.ts';
import { logger } from '../log.ts';
import { RotationItemSchema } from '../rotation.ts';
import { KeyConfigResultSchema } from './schemas.ts';
import { keyFieldsOf } from './update.ts';

/**
 * The workspace is still updating (PROVISIONING), or could not be read, at the recovery deadline: compute
 * was NOT restarted, because nothing may start while Databricks applies a key change (DESIGN §6.5).
 */
export class WorkspaceStillUpdating extends RotatorError {}

/** Result of `check-workspace-settled`, stored under `item.settled`. */
export const SettleResultSchema = z.object({
  status: z.enum(['SETTLED', 'UPDATING']),
  workspaceStatus: z.string(),
  /** Every key field the rotation sets shows the new configuration: the key did change. */
  keyChanged: z.boolean(),
  /** A storage key was added and is applied: the storage wait applies before anything starts. */
  storageApplied: z.boolean(),
  /** Epoch ms after which a workspace still updating fails the iteration without restoring. */
  deadline: z.number(),
  /** Epoch ms when it was seen settled (a storage wait in recovery counts from there). */
  settledAt: z.number().optional(),
  /** Seconds the state machine waits before the next check (lib/poll.ts). */
  nextCheckSeconds: z.number().optional(),
});
export type SettleResult = z.infer<typeof SettleResultSchema>;

/** Input: the item on the failure path after the PATCH may have been sent (update or check failed). */
export const SettleItemSchema = RotationItemSchema.extend({
  keyConfig: KeyConfigResultSchema.optional(),
  compute: StopResultSchema.optional(),
  settled: SettleResultSchema.partial().optional(),
  failure: z.looseObject({ Error: z.string().optional(), Cause: z.string().optional() }).optional(),
  /** Present when the PATCH step ran: the update's schedule counts from it (lib/poll.ts). */
  update: z.looseObject({ patchedAt: z.number().optional() }).optional(),
});
export type SettleItem = z.infer<typeof SettleItemSchema>;

/**
 * Recovery's first step after a failure at or after the PATCH (DESIGN §6.5): compute must not restart
 * while the workspace is still updating. Re-reads the workspace: PROVISIONING (or unreadable) → UPDATING,
 * keep waiting until the recovery deadline; anything else → SETTLED, with whether the key really changed
 * (decided from what Databricks shows, never assumed). At the deadline it fails with
 * `WorkspaceStillUpdating`, and `describeStopped` says what stays stopped and where the snapshot is.
 */
export async function checkWorkspaceSettled(
  item: SettleItem,
  deps: {
    account: AccountApi;
    now: number;
    waitMinutes: number;
    describeStopped: () => Promise<string>;
    /** Stops again whatever started meanwhile (best effort): nothing may run while it updates. */
    keepStopped: () => Promise<unknown>;
  },
): Promise<SettleResult> {
  const id = item.workspace.workspaceId;
  const deadline = item.settled?.deadline ?? deps.now + deps.waitMinutes * 60_000;
  let workspace: Workspace | undefined;
  let readError = '';
  try {
    workspace = await deps.account.getWorkspace(id);
  } catch (error) {
    readError = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error);
    logger.warn('recovery: the workspace could not be read; waiting before restoring anything', {
      workspaceId: id,
      error: readError,
    });
  }
  const status = workspace?.workspace_status ?? 'UNKNOWN';
  const base = { keyChanged: false, storageApplied: false, deadline };
  if (!workspace || status === 'PROVISIONING') {
    await deps.keepStopped();
    if (deps.now <= deadline) return { status: 'UPDATING', workspaceStatus: status, ...base };
    const why = workspace ? `is still PROVISIONING` : `could not be read (${readError})`;
    throw new WorkspaceStillUpdating(
      `workspace ${id} (${item.workspace.deploymentName}) ${why} ${deps.waitMinutes} min after the rotation failed (${item.failure?.Error ?? 'error'}); its compute was NOT restarted, because nothing may start while Databricks applies a key change. ${await deps.describeStopped()}. When the workspace is RUNNING again, restore it by hand from the snapshot (or start a new rotation: it honours this snapshot).`,
      { details: { workspaceId: id, workspaceStatus: status } },
    );
  }
  const newId = item.keyConfig?.customerManagedKeyId;
  const fields = keyFieldsOf(item.workspace.changes);
  const keyChanged = newId !== undefined && fields.every((f) => workspace[f] === newId);
  const storageApplied =
    newId !== undefined && item.workspace.storageAdded && workspace.storage_customer_managed_key_id === newId;
  return {
    status: 'SETTLED',
    workspaceStatus: status,
    keyChanged,
    storageApplied,
    deadline,
    settledAt: deps.now,
  };
}
