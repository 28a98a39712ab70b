import * as z from 'zod';

/**
 * The data that flows through the state machine. `plan` produces a `Plan`; the Map turns each planned
 * workspace into a `RotationItem` (workspace + the shared fields of the plan + the execution id); every
 * per-workspace step reads the item and returns a small result that the ASL stores under its own key
 * (`ResultPath`), so later steps (and the compensation path) can read what earlier ones did.
 */

export const KeyUseCaseSchema = z.enum(['MANAGED_SERVICES', 'STORAGE']);
export const ActiveRunsPolicySchema = z.enum(['wait', 'cancel', 'fail']);
export type ActiveRunsPolicy = z.infer<typeof ActiveRunsPolicySchema>;

export const TargetKeySchema = z.object({
  keyArn: z.string(),
  keyId: z.string(),
  region: z.string(),
  keyAlias: z.string().optional(),
});
export type TargetKey = z.infer<typeof TargetKeySchema>;

export const PlannedWorkspaceSchema = z.object({
  workspaceId: z.number().int(),
  workspaceName: z.string().optional(),
  deploymentName: z.string(),
  region: z.string(),
  /** Key configuration ids the workspace has before the rotation (null = none). */
  current: z.object({
    managedServicesKeyConfigId: z.string().nullable(),
    storageKeyConfigId: z.string().nullable(),
    managedServicesKeyArn: z.string().nullable().optional(),
    storageKeyArn: z.string().nullable().optional(),
  }),
  /** Which workspace fields the rotation will set. */
  changes: z.object({ managedServices: z.boolean(), storage: z.boolean() }),
  /** A storage key is added for the first time: the 20-minute wait applies. */
  storageAdded: z.boolean(),
  /** What each later step will do, in words an operator reads in the plan. */
  steps: z.array(z.string()),
  /**
   * The workspace already uses the target key, but an earlier execution left its compute stopped (its
   * snapshot is still open): this execution only restores that compute (DESIGN §4, retrying a failed
   * rotation with a new execution).
   */
  restoreOnly: z.boolean().optional(),
  /** The open snapshot of that earlier execution (a key of the snapshot store). */
  leftStoppedSnapshot: z.string().optional(),
  /**
   * With `restoreOnly`: seconds to wait before restoring, what is left of the storage wait the earlier
   * execution began (DESIGN §6.5). Absent: restore at once.
   */
  restoreAfterSeconds: z.number().int().min(1).optional(),
});
export type PlannedWorkspace = z.infer<typeof PlannedWorkspaceSchema>;

/**
 * `wait`: a manual start with `waitForLock` found a planned workspace locked; the state machine plans again.
 * `recheck`: a key in use stopped working; the state machine waits `recheckSeconds` and plans again with
 * `recheck: true`, which either succeeds (the key is usable again) or fails naming the workspaces.
 */
export const PlanModeSchema = z.enum(['rotate', 'verify', 'noop', 'wait', 'recheck']);
export type PlanMode = z.infer<typeof PlanModeSchema>;

export const PlanSchema = z.object({
  mode: PlanModeSchema,
  dryRun: z.boolean(),
  reason: z.string(),
  trigger: z.object({
    kind: z.enum([
      'manual',
      'aliasMoved',
      'keyRotated',
      'keyDisabled',
      'keyDeletionScheduled',
      'keyDeleted',
      'keyMaterialExpired',
    ]),
    eventId: z.string().optional(),
    keyArn: z.string().optional(),
  }),
  target: TargetKeySchema.nullable(),
  useCases: z.array(KeyUseCaseSchema),
  reuseKeyForClusterVolumes: z.boolean(),
  activeRuns: ActiveRunsPolicySchema,
  drainTimeoutMinutes: z.number(),
  oldKeyRetentionHours: z.number(),
  /** Seconds to wait after the update when a storage key was added (0 otherwise); per workspace in the item. */
  storageWaitSeconds: z.number(),
  /** Key disabled/deleted: no job drain, cancel active runs. */
  emergency: z.boolean(),
  /** Workspaces rotated in parallel by the Map. */
  maxConcurrency: z.number().int().min(1),
  workspaces: z.array(PlannedWorkspaceSchema),
  /**
   * A long plan (more than `INLINE_PLAN_WORKSPACES`, lib/plan/stored.ts) keeps its workspaces in the
   * snapshot store: `workspaces` is then empty, the Map iterates these ids, and each workspace's execution
   * loads its own entry from `planLocation`.
   */
  workspaceIds: z.array(z.number().int()).optional(),
  planLocation: z.object({ key: z.string(), where: z.string() }).optional(),
  /** Bytes each workspace's result may take in the rotation's state (`compactRotationResult`). */
  resultBudgetBytes: z.number().int().positive().optional(),
  /** ARNs of the keys being replaced (for the retention notice). */
  oldKeyArns: z.array(z.string()),
  /** How many workspaces the plan touches (rotates or verifies): what a dry run would change. */
  workspaceCount: z.number().int().min(0).optional(),
  /** Mode `recheck`: seconds to wait before reading the key again (KEY_RECHECK_GRACE_MINUTES). */
  recheckSeconds: z.number().int().min(0).optional(),
  /** Mode `verify`: re-grant Databricks in a key policy that no longer does, instead of `KeyPolicyDrift`. */
  repairPolicy: z.boolean().optional(),
});
export type Plan = z.infer<typeof PlanSchema>;

/** One Map iteration's input. Step results are added under their own keys and kept (loose object). */
export const RotationItemSchema = z.looseObject({
  executionId: z.string().min(1),
  workspace: PlannedWorkspaceSchema,
  target: TargetKeySchema,
  useCases: z.array(KeyUseCaseSchema).min(1),
  reuseKeyForClusterVolumes: z.boolean(),
  activeRuns: ActiveRunsPolicySchema,
  drainTimeoutMinutes: z.number(),
  emergency: z.boolean(),
  storageWaitSeconds: z.number(),
});
export type RotationItem = z.infer<typeof RotationItemSchema>;
