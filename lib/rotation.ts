import * as z from './zod.ts';

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
  keyAlias: z.optional(z.string()),
});
export type TargetKey = z.infer<typeof TargetKeySchema>;

export const PlannedWorkspaceSchema = z.object({
  workspaceId: z.number().check(z.int()),
  workspaceName: z.optional(z.string()),
  deploymentName: z.string(),
  region: z.string(),
  /** Key configuration ids the workspace has before the rotation (null = none). */
  current: z.object({
    managedServicesKeyConfigId: z.nullable(z.string()),
    storageKeyConfigId: z.nullable(z.string()),
    managedServicesKeyArn: z.optional(z.nullable(z.string())),
    storageKeyArn: z.optional(z.nullable(z.string())),
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
  restoreOnly: z.optional(z.boolean()),
  /** The open snapshot of that earlier execution (a key of the snapshot store). */
  leftStoppedSnapshot: z.optional(z.string()),
  /**
   * With `restoreOnly`: seconds to wait before restoring, what is left of the storage wait the earlier
   * execution began (DESIGN §6.5). Absent: restore at once.
   */
  restoreAfterSeconds: z.optional(z.number().check(z.int(), z.gte(1))),
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
    eventId: z.optional(z.string()),
    keyArn: z.optional(z.string()),
  }),
  target: z.nullable(TargetKeySchema),
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
  maxConcurrency: z.number().check(z.int(), z.gte(1)),
  workspaces: z.array(PlannedWorkspaceSchema),
  /**
   * A long plan (more than `INLINE_PLAN_WORKSPACES`, lib/plan/stored.ts) keeps its workspaces in the
   * snapshot store: `workspaces` is then empty, the Map iterates these ids, and each workspace's execution
   * loads its own entry from `planLocation`.
   */
  workspaceIds: z.optional(z.array(z.number().check(z.int()))),
  planLocation: z.optional(z.object({ key: z.string(), where: z.string() })),
  /** Bytes each workspace's result may take in the rotation's state (`compactRotationResult`). */
  resultBudgetBytes: z.optional(z.number().check(z.int(), z.positive())),
  /** ARNs of the keys being replaced (for the retention notice). */
  oldKeyArns: z.array(z.string()),
  /** How many workspaces the plan touches (rotates or verifies): what a dry run would change. */
  workspaceCount: z.optional(z.number().check(z.int(), z.gte(0))),
  /** Mode `recheck`: seconds to wait before reading the key again (KEY_RECHECK_GRACE_MINUTES). */
  recheckSeconds: z.optional(z.number().check(z.int(), z.gte(0))),
  /** Mode `verify`: re-grant Databricks in a key policy that no longer does, instead of `KeyPolicyDrift`. */
  repairPolicy: z.optional(z.boolean()),
});
export type Plan = z.infer<typeof PlanSchema>;

/** One Map iteration's input. Step results are added under their own keys and kept (loose object). */
export const RotationItemSchema = z.looseObject({
  executionId: z.string().check(z.minLength(1)),
  workspace: PlannedWorkspaceSchema,
  target: TargetKeySchema,
  useCases: z.array(KeyUseCaseSchema).check(z.minLength(1)),
  reuseKeyForClusterVolumes: z.boolean(),
  activeRuns: ActiveRunsPolicySchema,
  drainTimeoutMinutes: z.number(),
  emergency: z.boolean(),
  storageWaitSeconds: z.number(),
});
export type RotationItem = z.infer<typeof RotationItemSchema>;
