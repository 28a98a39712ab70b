import { StopResultSchema } from '../compute/model.ts';
import type { AccountApi } from '../databricks/api.ts';
import { isDeferred } from '../databricks/errors.ts';
import type { Workspace } from '../databricks/types.ts';
import { causeMessage, RotatorError } from '../errors.ts';
import { logger } from '../log.ts';
import { RotationItemSchema } from '../rotation.ts';
import * as z from '../zod.ts';
import { KeyConfigResultSchema, KeyFieldSchema } from './schemas.ts';
import { hasCustomerNetwork, keyFieldsOf, NO_UPDATE_STARTED, REFUSED_BEFORE_PATCH } from './update.ts';

/**
 * The workspace is still updating (PROVISIONING), or could not be read, or — a customer-managed VPC, whose
 * status stays RUNNING while a key change is applied — still does not show the new key, at the recovery
 * deadline: compute was NOT restarted, because nothing may start while Databricks applies a key change
 * (DESIGN §6.5).
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
  settledAt: z.optional(z.number()),
  /** Seconds the state machine waits before the next check (lib/poll.ts). */
  nextCheckSeconds: z.optional(z.number()),
  /** Recovery saw the workspace PROVISIONING where the update's checks had not: its status shows updates. */
  sawProvisioning: z.optional(z.boolean()),
  /** The read was throttled (or the invocation's time ran out): nothing was learnt, look again. */
  throttled: z.optional(z.boolean()),
});
export type SettleResult = z.infer<typeof SettleResultSchema>;

/** Input: the item on the failure path after the PATCH may have been sent (update or check failed). */
export const SettleItemSchema = z.extend(RotationItemSchema, {
  keyConfig: z.optional(KeyConfigResultSchema),
  compute: z.optional(StopResultSchema),
  settled: z.optional(z.partial(SettleResultSchema)),
  failure: z.optional(z.looseObject({ Error: z.optional(z.string()), Cause: z.optional(z.string()) })),
  /** Present when the PATCH step ran: the update's schedule counts from it (lib/poll.ts). */
  update: z.optional(z.looseObject({ patchedAt: z.optional(z.number()) })),
  /** Present when check-workspace polled after the PATCH: what it saw of the update. */
  workspaceCheck: z.optional(
    z.looseObject({
      sawProvisioning: z.optional(z.boolean()),
      sawNewIn: z.optional(z.array(KeyFieldSchema)),
    }),
  ),
});
export type SettleItem = z.infer<typeof SettleItemSchema>;

/**
 * Recovery's first step after a failure at or after the PATCH (DESIGN §6.5): compute must not restart
 * while the workspace is still updating. Re-reads the workspace and decides only from what Databricks shows:
 * PROVISIONING (or unreadable) → UPDATING, keep waiting until the recovery deadline. RUNNING without the new
 * key where an update may be running unseen (`mayStillBeUpdating`: a customer-managed VPC stays RUNNING while
 * the key changes) → UPDATING too. Anything else → SETTLED, with whether the key really changed. At the
 * deadline it fails with `WorkspaceStillUpdating`, restarting nothing, and `describeStopped` says what stays
 * stopped and where the snapshot is. Compute is kept stopped (`keepStopped`) on every UPDATING look.
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
  let throttled = false;
  try {
    workspace = await deps.account.getWorkspace(id);
  } catch (error) {
    throttled = isDeferred(error);
    readError = error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : String(error);
    logger.warn('recovery: the workspace could not be read; waiting before restoring anything', {
      workspaceId: id,
      error: readError,
      throttled,
    });
  }
  const status = workspace?.workspace_status ?? 'UNKNOWN';
  const remembered = item.settled?.sawProvisioning === true;
  const base = {
    keyChanged: false,
    storageApplied: false,
    deadline,
    ...(remembered ? { sawProvisioning: true } : {}),
    ...(throttled ? { throttled: true } : {}),
  };
  if (!workspace || status === 'PROVISIONING') {
    await deps.keepStopped();
    // Remembered only where the update's checks did not see it: then it proves the status shows updates.
    const sawNow =
      status === 'PROVISIONING' &&
      !item.workspaceCheck?.sawProvisioning &&
      (item.workspaceCheck !== undefined || (workspace !== undefined && hasCustomerNetwork(workspace)));
    const result = { status: 'UPDATING' as const, workspaceStatus: status, ...base };
    if (deps.now <= deadline) return sawNow ? { ...result, sawProvisioning: true } : result;
    const why = workspace ? `is still PROVISIONING` : `could not be read (${readError})`;
    throw new WorkspaceStillUpdating(
      `workspace ${id} (${item.workspace.deploymentName}) ${why} ${deps.waitMinutes} min after the rotation failed (${item.failure?.Error ?? 'error'}); its compute was NOT restarted, because nothing may start while Databricks applies a key change. ${await deps.describeStopped()}. When the workspace is RUNNING again${item.workspace.storageAdded ? ' and 20 more minutes have passed (a storage key was being added)' : ''}, restore it by hand from the snapshot (or start a new rotation: it honours this snapshot and its wait).`,
      { details: { workspaceId: id, workspaceStatus: status } },
    );
  }
  const newId = item.keyConfig?.customerManagedKeyId;
  const fields = keyFieldsOf(item.workspace.changes);
  const keyChanged = newId !== undefined && fields.every((f) => workspace[f] === newId);
  const storageApplied =
    newId !== undefined && item.workspace.storageAdded && workspace.storage_customer_managed_key_id === newId;
  if (
    newId !== undefined &&
    !keyChanged &&
    status === 'RUNNING' &&
    mayStillBeUpdating(item, workspace, newId)
  ) {
    await deps.keepStopped();
    if (deps.now <= deadline) return { status: 'UPDATING', workspaceStatus: status, ...base };
    const shown = fields.map((f) => `${f}=${String(workspace[f] ?? null)}`).join(', ');
    const network = hasCustomerNetwork(workspace)
      ? `a customer-managed VPC (network ${String(workspace.network_id)})`
      : 'a workspace that never showed the update as PROVISIONING (as a customer-managed VPC does not)';
    throw new WorkspaceStillUpdating(
      `workspace ${id} (${item.workspace.deploymentName}) is RUNNING but still shows ${shown}, not ${newId}, ${deps.waitMinutes} min after the rotation failed (${item.failure?.Error ?? 'error'}); its compute was NOT restarted. Databricks does not show an update in progress for ${network}: its status stays RUNNING while the key changes, so the key update could not be confirmed over — it may still be running, or may have been undone. ${await deps.describeStopped()}. Check the workspace in the account console; once its key ids no longer change, restore compute by hand from the snapshot (or start a new rotation: it honours this snapshot).`,
      {
        details: { workspaceId: id, workspaceStatus: status, customerNetwork: hasCustomerNetwork(workspace) },
      },
    );
  }
  return {
    status: 'SETTLED',
    workspaceStatus: status,
    keyChanged,
    storageApplied,
    deadline,
    settledAt: deps.now,
  };
}

/**
 * Whether a workspace RUNNING without the new key may still be applying it (pure). Not when no key update
 * was started (the failure came before the PATCH or Databricks refused it: `REFUSED_BEFORE_PATCH`,
 * `NO_UPDATE_STARTED`), nor when Databricks showed the update and then its end (PROVISIONING was seen, or a
 * field showed the new id and no longer does: a revert). Otherwise yes when Databricks cannot show it: the
 * workspace has a customer-managed VPC (`network_id`), or check-workspace polled after the PATCH and never
 * saw PROVISIONING, the only sign a Databricks-managed VPC gives. A Databricks-managed VPC RUNNING is not
 * updating.
 */
export function mayStillBeUpdating(item: SettleItem, workspace: Workspace, newId: string): boolean {
  const check = item.workspaceCheck;
  if (check === undefined) {
    const name = item.failure?.Error ?? '';
    if (REFUSED_BEFORE_PATCH.has(name)) return false;
    if (causeMessage(item.failure?.Cause).includes(NO_UPDATE_STARTED)) return false;
  }
  if (check?.sawProvisioning || item.settled?.sawProvisioning) return false;
  if ((check?.sawNewIn ?? []).some((f) => workspace[f] !== newId)) return false;
  return hasCustomerNetwork(workspace) || check !== undefined;
}
