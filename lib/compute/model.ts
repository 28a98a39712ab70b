import { RotationItemSchema } from '../rotation.ts';
import * as z from '../zod.ts';

/**
 * The data of compute quiesce and restore: the snapshot (stored outside the state machine, see
 * snapshot-store.ts) and the small step results the state machine carries under `item.compute`,
 * `item.computeCheck`, `item.restore` and `item.restoreCheck`.
 *
 * States and sources are plain strings, not enums: Databricks adds enum values over time, and a snapshot
 * must never fail to load because of one.
 */

/**
 * Snapshot schemas are tolerant by design (DESIGN §6.4: a snapshot that was written can always be read
 * back): every object keeps fields it does not model (`looseObject`), an optional field may be `null`
 * (Databricks sends `null` for some absent values), and values Databricks may send in another type
 * (numeric tag values) are accepted as they come. The same schema validates on write and on read.
 */
const opt = <T extends z.ZodMiniType>(schema: T) => z.optional(schema);

/** Drops `null` object fields recursively (Databricks' `null` means "not set", like an absent field). */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNulls(v);
  return out;
}

export const ClusterInfoSchema = z.looseObject({
  cluster_id: z.string(),
  cluster_name: opt(z.string()),
  state: z.string(),
  cluster_source: opt(z.string()),
  instance_pool_id: opt(z.string()),
  /** `termination_reason.code` (TERMINATING/TERMINATED only): tells our own stop from a failed start. */
  termination_code: opt(z.string()),
});
export type ClusterInfo = z.infer<typeof ClusterInfoSchema>;

export const PoolStatsSchema = z.looseObject({
  idle_count: opt(z.number()),
  used_count: opt(z.number()),
  pending_idle_count: opt(z.number()),
  pending_used_count: opt(z.number()),
});

/** Every field an `instance-pools/edit` must repeat, plus the stats that say whether it is quiesced. */
export const PoolInfoSchema = z.looseObject({
  instance_pool_id: z.string(),
  instance_pool_name: z.string(),
  node_type_id: z.string(),
  min_idle_instances: opt(z.number()),
  max_capacity: opt(z.number()),
  idle_instance_autotermination_minutes: opt(z.number()),
  /** Sent back on edit as it was read (tag values are strings in the API, but a snapshot keeps what came). */
  custom_tags: opt(z.record(z.string(), z.unknown())),
  state: opt(z.string()),
  stats: opt(PoolStatsSchema),
});
export type PoolInfo = z.infer<typeof PoolInfoSchema>;

export const WarehouseInfoSchema = z.looseObject({
  id: z.string(),
  name: opt(z.string()),
  state: z.string(),
  warehouse_type: opt(z.string()),
  enable_serverless_compute: opt(z.boolean()),
});
export type WarehouseInfo = z.infer<typeof WarehouseInfoSchema>;

/** A schedule / continuous / trigger object, kept whole: `jobs/update` replaces top-level fields. */
const PausableSchema = z.looseObject({ pause_status: opt(z.string()) });
export type Pausable = z.infer<typeof PausableSchema>;

export const PAUSABLE_FIELDS = ['schedule', 'continuous', 'trigger'] as const;
export type PausableField = (typeof PAUSABLE_FIELDS)[number];

/** A job with at least one of schedule / continuous / trigger UNPAUSED, with those objects as they were. */
export const PausableJobSchema = z.looseObject({
  job_id: z.number(),
  name: opt(z.string()),
  schedule: opt(PausableSchema),
  continuous: opt(PausableSchema),
  trigger: opt(PausableSchema),
});
export type PausableJob = z.infer<typeof PausableJobSchema>;

export const RunInfoSchema = z.looseObject({
  run_id: z.number(),
  job_id: opt(z.number()),
  trigger: opt(z.string()),
  life_cycle_state: z.string(),
  /** When it started (epoch ms, from the list): a run older than the snapshot was not started in the window. */
  start_time: opt(z.number()),
  /** The run of a continuous job: it never ends by itself, so it is cancelled in every mode. */
  continuous: z.boolean(),
});
export type RunInfo = z.infer<typeof RunInfoSchema>;

export const PipelineInfoSchema = z.looseObject({
  pipeline_id: z.string(),
  name: opt(z.string()),
  state: z.string(),
  /** From `spec` (get only; fetched for pipelines that are not IDLE). */
  continuous: opt(z.boolean()),
  serverless: opt(z.boolean()),
});
export type PipelineInfo = z.infer<typeof PipelineInfoSchema>;

/** What runs in a workspace right now, as far as quiesce and restore care. */
export interface ComputeState {
  clusters: ClusterInfo[];
  pools: PoolInfo[];
  warehouses: WarehouseInfo[];
  runs: RunInfo[];
  pipelines: PipelineInfo[];
}

/** Everything needed to bring a workspace back to what ran before the stop. Written once, never updated. */
const ComputeSnapshotShape = z.looseObject({
  version: z.literal(1),
  executionId: z.string(),
  workspaceId: z.number(),
  deploymentName: z.string(),
  /** Epoch ms (run clock). */
  takenAt: z.number(),
  clusters: z.array(ClusterInfoSchema),
  pools: z.array(PoolInfoSchema),
  warehouses: z.array(WarehouseInfoSchema),
  jobs: z.array(PausableJobSchema),
  runs: z.array(RunInfoSchema),
  pipelines: z.array(PipelineInfoSchema),
  /**
   * Snapshot keys of earlier executions whose compute was still stopped when this one started (a failed
   * rotation retried by a new execution): their restore sets are merged into this one (DESIGN §6.4).
   */
  inherited: opt(z.array(z.string())),
});
export type ComputeSnapshot = z.infer<typeof ComputeSnapshotShape>;
/** Parses a stored snapshot: nulls read as absent fields, unknown fields kept. */
export const ComputeSnapshotSchema = z.pipe(z.transform(withoutNulls), ComputeSnapshotShape);

/**
 * Compute found running during the window that the snapshot did not have running (a user started it, a
 * list answer missed it, an auto-start): it was stopped again and is restored too (DESIGN §6.4, §6.5).
 * Stored beside the snapshot and rewritten as it grows; restore uses snapshot ∪ additions.
 */
const RestoreAdditionsShape = z.looseObject({
  version: z.literal(1),
  clusters: z.array(ClusterInfoSchema),
  warehouses: z.array(WarehouseInfoSchema),
  pipelines: z.array(PipelineInfoSchema),
  pools: z.array(PoolInfoSchema),
  /** What was seen coming back, when (epoch ms) and what was done (first MAX_LISTED·4; `count` has all). */
  events: z.array(
    z.looseObject({ kind: z.string(), id: z.string(), seenAt: z.number(), state: z.optional(z.string()) }),
  ),
  count: z.number(),
});
export type RestoreAdditions = z.infer<typeof RestoreAdditionsShape>;
export const RestoreAdditionsSchema = z.pipe(z.transform(withoutNulls), RestoreAdditionsShape);

export const ComputeKindSchema = z.enum(['cluster', 'pool', 'warehouse', 'pipeline', 'job', 'run']);
export type ComputeKind = z.infer<typeof ComputeKindSchema>;

export const ResourceRefSchema = z.object({
  kind: ComputeKindSchema,
  id: z.string(),
  /** When it was seen (epoch ms; compute that came back during the window). */
  seenAt: z.optional(z.number()),
});
export type ResourceRef = z.infer<typeof ResourceRefSchema>;

/** What ran at snapshot time (`jobsPaused`: jobs with a schedule/continuous/trigger to pause). */
export const ComputeCountsSchema = z.object({
  clusters: z.number(),
  pools: z.number(),
  warehouses: z.number(),
  jobsPaused: z.number(),
  runs: z.number(),
  pipelines: z.number(),
});
export type ComputeCounts = z.infer<typeof ComputeCountsSchema>;

/** Result of `stop-compute`, stored under `item.compute`. The snapshot itself stays in the store. */
export const StopResultSchema = z.object({
  snapshotKey: z.string(),
  phase: z.enum(['draining', 'stopping']),
  counts: ComputeCountsSchema,
  /** Epoch ms; only while draining (`activeRuns: 'wait'`). */
  drainDeadline: z.optional(z.number()),
  /** Epoch ms after which compute that is still not stopped fails the rotation. */
  deadline: z.number(),
  /**
   * Stop calls not made because Databricks kept throttling (throttling is a speed, not a failure): the
   * checks stop whatever still runs, and the first one does not count these as "came back".
   */
  deferred: z.optional(z.number()),
});
export type StopResult = z.infer<typeof StopResultSchema>;

/** The kinds a stop check lists (runs: active job runs). */
export const StopKindSchema = z.enum(['clusters', 'pools', 'warehouses', 'pipelines', 'runs']);
export type StopKind = z.infer<typeof StopKindSchema>;

/** Not-yet-stopped (check-stopped) or not-yet-restored (check-restored) resources, by kind. */
export const PendingCountsSchema = z.object({
  clusters: z.number(),
  pools: z.number(),
  warehouses: z.number(),
  pipelines: z.number(),
  runs: z.optional(z.number()),
  jobs: z.optional(z.number()),
});
export type PendingCounts = z.infer<typeof PendingCountsSchema>;

/** At most this many resources are named in a step result (the state machine payload must stay small). */
export const MAX_LISTED = 50;

/** Result of `check-compute-stopped`, stored under `item.computeCheck` (the next check reads it back). */
export const StopCheckResultSchema = z.object({
  status: z.enum(['DRAINING', 'STOPPING', 'STOPPED']),
  /** Active job runs still being drained or cancelled. */
  activeRuns: z.number(),
  /** Epoch ms: the stop deadline in force (restarted when a drain ends). */
  deadline: z.number(),
  remaining: PendingCountsSchema,
  /** Compute someone or something started again during the window, stopped again (first MAX_LISTED). */
  restartedDuringWindow: z.array(ResourceRefSchema),
  restartedCount: z.number(),
  /** Guarding the storage wait (after the update): epoch ms when it ends, and whether it has. */
  storageWaitUntil: z.optional(z.number()),
  storageWaitOver: z.optional(z.boolean()),
  /**
   * Guarding: what runs and could not be stopped this turn (its stop call failed), with why; tried again
   * each turn. The caller fails the window by name when it ends with something here (`notKeptStopped`).
   */
  unstoppable: z.optional(z.string()),
  /**
   * Kinds this check saw fully stopped (nothing left, nothing to stop again). The next poll of the stopping
   * loop does not list them again — until that poll finds nothing left: it then lists every kind before it
   * answers STOPPED (the PATCH follows at once). The guards after the PATCH list every kind too (DESIGN §6.5),
   * and a kind is listed again as soon as one of those finds something in it.
   */
  confirmed: z.optional(z.array(StopKindSchema)),
  /**
   * This turn could not read the workspace (or stop what runs) because Databricks throttled it: nothing
   * was decided, and the deadline moved later by the time lost.
   */
  throttled: z.optional(z.boolean()),
  /** Epoch ms of this turn (what the next turn measures time lost to throttling from). */
  checkedAt: z.optional(z.number()),
});
export type StopCheckResult = z.infer<typeof StopCheckResultSchema>;

export const RestoreCountsSchema = z.object({
  clusters: z.number(),
  pools: z.number(),
  warehouses: z.number(),
  pipelines: z.number(),
  jobs: z.number(),
});
export type RestoreCounts = z.infer<typeof RestoreCountsSchema>;

export const RestoreFailureSchema = z.object({ kind: ComputeKindSchema, id: z.string(), error: z.string() });
export type RestoreFailure = z.infer<typeof RestoreFailureSchema>;

/** Result of `restore-compute`, stored under `item.restore`. */
export const RestoreResultSchema = z.object({
  snapshotKey: z.string(),
  /** No snapshot exists: the rotation failed before anything was touched. */
  nothingToRestore: z.boolean(),
  /** Start / edit / unpause calls that succeeded in this invocation. */
  started: RestoreCountsSchema,
  /** Calls that failed (first MAX_LISTED; `failedCount` has them all). */
  failed: z.array(RestoreFailureSchema),
  failedCount: z.number(),
  /** Epoch ms after which compute that is still not back fails the rotation. */
  deadline: z.number(),
  /**
   * Kinds this step saw restored or restored itself with a call that takes effect at once (pool idle
   * settings, job pause status): the first check does not list them again.
   */
  confirmed: z.optional(z.array(ComputeKindSchema)),
  /**
   * Calls not made because Databricks throttled them (or the time went to waiting that out): not failures,
   * the checks make them.
   */
  deferred: z.optional(z.number()),
  /** Kinds whose calls Databricks throttled: the next turn does the others first. */
  throttledKinds: z.optional(z.array(ComputeKindSchema)),
  /**
   * The execution that took the snapshot, when it is not this one: this execution stopped nothing, but an
   * earlier one left the workspace's compute stopped (its open pointer), and this one restores that.
   */
  snapshotExecutionId: z.optional(z.string()),
  /**
   * The snapshot could not be read (S3 throttling, a 5xx, no answer): nothing was done, and the checks read
   * it — and find whose it is — at every turn until the restore deadline.
   */
  snapshotUnread: z.optional(z.boolean()),
  /**
   * Compute that came back during the window (a user, an auto-start, a list that missed it): stopped
   * again and restored with the rest. `events` has the first ones with when they were seen (epoch ms).
   */
  cameBack: z.optional(
    z.object({
      count: z.number(),
      events: z.array(z.looseObject({ kind: z.string(), id: z.string(), seenAt: z.number() })),
    }),
  ),
});
export type RestoreResult = z.infer<typeof RestoreResultSchema>;

/** A start that failed and is tried again (with backoff) until the restore deadline. */
export const RetryingStartSchema = z.extend(RestoreFailureSchema, {
  attempts: z.number(),
  /** Epoch ms of the next attempt. */
  nextAt: z.number(),
});
export type RetryingStart = z.infer<typeof RetryingStartSchema>;

/** Result of `check-compute-restored`, stored under `item.restoreCheck`. */
export const RestoreCheckResultSchema = z.object({
  status: z.enum(['RESTORED', 'WAITING']),
  restored: RestoreCountsSchema,
  pending: RestoreCountsSchema,
  /** Every job's pause status was seen restored once; later checks skip listing all jobs again. */
  jobsVerified: z.boolean(),
  /**
   * Kinds whose every resource was seen restored (a superset of `jobsVerified`'s `job`): later checks do
   * not list them again.
   */
  verified: z.optional(z.array(ComputeKindSchema)),
  /**
   * The restore `verified` belongs to (its `deadline`, unique per restore-compute run): a check after
   * another restore-compute run (the compensation path) reads every kind again.
   */
  restoreDeadline: z.optional(z.number()),
  /** This turn could not read (part of) the workspace because Databricks throttled it; the deadline moved. */
  throttled: z.optional(z.boolean()),
  /** Kinds whose calls Databricks throttled: the next turn does the others first. */
  throttledKinds: z.optional(z.array(ComputeKindSchema)),
  /**
   * Kinds whose list could not be read this turn (Databricks unavailable or throttling): nothing about them
   * was decided, the next turn reads them again; the others were restored as usual.
   */
  unreadKinds: z.optional(z.array(ComputeKindSchema)),
  /** This turn could not read the snapshot (S3 throttling, a 5xx): nothing was known or done. */
  snapshotUnread: z.optional(z.boolean()),
  /**
   * Epoch ms: the restore deadline in force — `restore.deadline` moved later by the time turns lost to
   * Databricks throttling (a throttled rotation is slower, not failed), never past what the execution's
   * history has room for (`throttledRestoreMinutes` after the restore began: up to 8 hours).
   */
  deadline: z.optional(z.number()),
  /** Epoch ms of this turn (what the next turn measures time lost to throttling from). */
  checkedAt: z.optional(z.number()),
  /** Failed starts being retried, with their last error (first MAX_LISTED). */
  retrying: z.optional(z.array(RetryingStartSchema)),
});
export type RestoreCheckResult = z.infer<typeof RestoreCheckResultSchema>;

/** Input of `stop-compute`: the Map item. */
export const StopItemSchema = RotationItemSchema;
export type StopItem = z.infer<typeof StopItemSchema>;

/** Input of `check-compute-stopped`: the item after `stop-compute` (and possibly an earlier check). */
export const StopCheckItemSchema = z.extend(RotationItemSchema, {
  compute: StopResultSchema,
  computeCheck: z.optional(StopCheckResultSchema),
  /** Present once the workspace runs on the new key: the check then guards the storage wait. */
  workspaceCheck: z.optional(z.looseObject({ status: z.string(), runningAt: z.optional(z.number()) })),
  /** Present in recovery once the workspace settled with a storage key applied: the same guard applies. */
  settled: z.optional(z.looseObject({ status: z.optional(z.string()), settledAt: z.optional(z.number()) })),
});
export type StopCheckItem = z.infer<typeof StopCheckItemSchema>;

/**
 * Input of `restore-compute`. It also runs as the compensation step after a failure anywhere, so
 * `item.compute` may be missing (stop-compute failed or never ran): the snapshot key is then derived.
 */
export const RestoreItemSchema = z.extend(RotationItemSchema, {
  compute: z.optional(StopResultSchema),
  /** Present on the report path: what restoring tried, for the last error of each resource. */
  restore: z.optional(z.looseObject({ failed: z.optional(z.array(RestoreFailureSchema)) })),
  restoreCheck: z.optional(
    z.looseObject({ retrying: z.optional(z.array(z.catchall(RestoreFailureSchema, z.unknown()))) }),
  ),
});
export type RestoreItem = z.infer<typeof RestoreItemSchema>;

/** Input of `check-compute-restored`: the item after `restore-compute` (and possibly an earlier check). */
export const RestoreCheckItemSchema = z.extend(RotationItemSchema, {
  restore: RestoreResultSchema,
  restoreCheck: z.optional(RestoreCheckResultSchema),
});
export type RestoreCheckItem = z.infer<typeof RestoreCheckItemSchema>;

/** The deterministic snapshot key: the compensation path finds it even when stop-compute failed midway. */
export function snapshotKeyOf(item: { executionId: string; workspace: { workspaceId: number } }): string {
  return `${item.executionId}/${item.workspace.workspaceId}/compute-snapshot.json`;
}
