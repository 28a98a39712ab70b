import { KeyUseCaseSchema, RotationItemSchema } from '../rotation.ts';
import * as z from '../zod.ts';

/** The workspace fields a CMK change sets (Databricks' own names). */
export const KeyFieldSchema = z.enum([
  'managed_services_customer_managed_key_id',
  'storage_customer_managed_key_id',
]);
export type KeyField = z.infer<typeof KeyFieldSchema>;

/** Result of `register-key-config`, stored by the state machine under `item.keyConfig`. */
export const KeyConfigResultSchema = z.object({
  customerManagedKeyId: z.string().check(z.minLength(1)),
  reused: z.boolean(),
  useCases: z.array(KeyUseCaseSchema).check(z.minLength(1)),
});
export type KeyConfigResult = z.infer<typeof KeyConfigResultSchema>;

/** Result of `update-workspace`, stored under `item.update`. */
export const WorkspaceUpdateResultSchema = z.object({
  /** A PATCH was sent by this invocation. */
  patched: z.boolean(),
  /** Every field the rotation sets; `check-workspace` waits until each shows the new configuration id. */
  fields: z.array(KeyFieldSchema),
  /** The fields this invocation actually sent (fields already showing the new id are skipped). */
  sentFields: z.optional(z.array(KeyFieldSchema)),
  patchedAt: z.number(),
  /** Epoch ms after which a workspace still on the old key counts as reverted or timed out. */
  deadline: z.number(),
  /**
   * The PATCH's answer was lost (or a 5xx): what the re-read showed (`resent`: unchanged, sent once more;
   * `in-progress`: the resent PATCH was refused because an update is in progress — the first one took effect).
   */
  reconciled: z.optional(z.enum(['provisioning', 'applied', 'resent', 'in-progress'])),
  /**
   * An update was already under way, so this invocation started none: the workspace was PROVISIONING, or
   * Databricks answered that an update is in progress (a customer-managed VPC stays RUNNING meanwhile). It is
   * this step's own earlier PATCH (a Lambda retry, a lost answer) or someone else's change; check-workspace
   * waits for its end.
   */
  inProgress: z.optional(z.boolean()),
  /** Databricks refused the change because compute runs: compute is stopped again, then the update retried. */
  refused: z.optional(z.object({ attempts: z.number(), message: z.string() })),
  /** Every field already showed the new id: nothing was sent, nothing is to be waited for. */
  alreadyApplied: z.optional(z.boolean()),
  /** Seconds the state machine waits before the first check (lib/poll.ts). */
  nextCheckSeconds: z.optional(z.number()),
});
export type WorkspaceUpdateResult = z.infer<typeof WorkspaceUpdateResultSchema>;

/** Result of `check-workspace`, stored under `item.workspaceCheck` (the next check reads it back). */
export const WorkspaceCheckResultSchema = z.object({
  status: z.enum(['RUNNING', 'WAITING']),
  workspaceStatus: z.optional(z.string()),
  sawProvisioning: z.boolean(),
  /** Epoch ms when it was first seen RUNNING on the new key (the storage wait counts from there). */
  runningAt: z.optional(z.number()),
  /** Fields seen showing the new configuration id: one that shows the old id again proves a revert. */
  sawNewIn: z.optional(z.array(KeyFieldSchema)),
  /** Databricks throttled the read (or the invocation's time ran out waiting): nothing was learnt, look again. */
  throttled: z.optional(z.boolean()),
  /** Compute found running during the update and stopped again (the window guard; best effort). */
  guard: z.optional(
    z.object({ stillRunning: z.number(), cameBack: z.number(), error: z.optional(z.string()) }),
  ),
  /** Seconds the state machine waits before the next check (lib/poll.ts). */
  nextCheckSeconds: z.optional(z.number()),
});
export type WorkspaceCheckResult = z.infer<typeof WorkspaceCheckResultSchema>;

/** Input of `update-workspace`: the Map item after `register-key-config`. */
export const UpdateItemSchema = z.extend(RotationItemSchema, { keyConfig: KeyConfigResultSchema });
export type UpdateItem = z.infer<typeof UpdateItemSchema>;

/** Input of `check-workspace`: the item after `update-workspace` (and possibly an earlier check). */
export const CheckItemSchema = z.extend(UpdateItemSchema, {
  update: WorkspaceUpdateResultSchema,
  workspaceCheck: z.optional(WorkspaceCheckResultSchema),
});
export type CheckItem = z.infer<typeof CheckItemSchema>;
