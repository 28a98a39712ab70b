import { z } from 'zod';
import { RotationItemSchema } from '../rotation.ts';

/**
 * The data of compute quiesce and restore: the snapshot (stored outside the state machine, see
 * snapshot-store.ts) and the small step results the state machine carries under `item.compute`,
 * `item.computeCheck`, `item.restore` and `item.restoreCheck`.
 *
 * States and sources are plain strings, not enums: Databricks adds enum values over time, and a snapshot
 * must never fail to load because of one.
 */

export const ClusterInfoSchema = z.object({
  cluster_id: z.string(),
  cluster_name: z.string().optional(),
  state: z.string(),
  cluster_source: z.string().optional(),
  instance_pool_id: z.string().optional(),
  /** `termination_reason.code` (TERMINATING/TERMINATED only): tells our own stop from a failed start. */
  termination_code: z.string().optional(),
});
export type ClusterInfo = z.infer<typeof ClusterInfoSchema>;

export const PoolStatsSchema = z.object({
  idle_count: z.number().optional(),
  used_count: z.number().optional(),
  pending_idle_count: z.number().optional(),
  pending_used_count: z.number().optional(),
});

/** Every field an `instance-pools/edit` must repeat, plus the stats that say whether it is quiesced. */
export const PoolInfoSchema = z.object({
  instance_pool_id: z.string(),
  instance_pool_name: z.string(),
  node_type_id: z.string(),
  min_idle_instances: z.number().optional(),
  max_capacity: z.number().optional(),
  idle_instance_autotermination_minutes: z.number().optional(),
  custom_tags: z.record(z.string(), z.string()).optional(),
  state: z.string().optional(),
  stats: PoolStatsSchema.optional(),
});
export type PoolInfo = z.infer<typeof PoolInfoSchema>;

export const WarehouseInfoSchema = z.object({
  id: z.string(),
  name: z.string().optional(),
  state: z.string(),
  warehouse_type: z.string().optional(),
  enable_serverless_compute: z.boolean().optional(),
});
export type WarehouseInfo = z.infer<typeof WarehouseInfoSchema>;

/** A schedule / continuous / trigger object, kept whole: `jobs/update` replaces top-level fields. */
const PausableSchema = z.looseObject({ pause_status: z.string().optional() });
export type Pausable = z.infer<typeof PausableSchema>;

export const PAUSABLE_FIELDS = ['schedule', 'continuous', 'trigger'] as const;
export type PausableField = (typeof PAUSABLE_FIELDS)[number];

/** A job with at least one of schedule / continuous / trigger UNPAUSED, with those objects as they were. */
export const PausableJobSchema = z.object({
  job_id: z.number(),
  name: z.string().optional(),
  schedule: PausableSchema.optional(),
  continuous: PausableSchema.optional(),
  trigger: PausableSchema.optional(),
});
export type PausableJob = z.infer<typeof PausableJobSchema>;

export const RunInfoSchema = z.object({
  run_id: z.number(),
  job_id: z.number().optional(),
  trigger: z.string().optional(),
  life_cycle_state: z.string(),
  /** The run of a continuous job: it never ends by itself, so it is cancelled in every mode. */
  continuous: z.boolean(),
});
export type RunInfo = z.infer<typeof RunInfoSchema>;

export const PipelineInfoSchema = z.object({
  pipeline_id: z.string(),
  name: z.string().optional(),
  state: z.string(),
  /** From `spec` (get only; fetched for pipelines that are not IDLE). */
  continuous: z.boolean().optional(),
  serverless: z.boolean().optional(),
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
export const ComputeSnapshotSchema = z.object({
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
});
export type ComputeSnapshot = z.infer<typeof ComputeSnapshotSchema>;

export const ComputeKindSchema = z.enum(['cluster', 'pool', 'warehouse', 'pipeline', 'job', 'run']);
export type ComputeKind = z.infer<typeof ComputeKindSchema>;

export const ResourceRefSchema = z.object({ kind: ComputeKindSchema, id: z.string() });
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
  drainDeadline: z.number().optional(),
  /** Epoch ms after which compute that is still not stopped fails the rotation. */
  deadline: z.number(),
});
export type StopResult = z.infer<typeof StopResultSchema>;

/** Not-yet-stopped (check-stopped) or not-yet-restored (check-restored) resources, by kind. */
export const PendingCountsSchema = z.object({
  clusters: z.number(),
  pools: z.number(),
  warehouses: z.number(),
  pipelines: z.number(),
  runs: z.number().optional(),
  jobs: z.number().optional(),
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
});
export type RestoreResult = z.infer<typeof RestoreResultSchema>;

/** Result of `check-compute-restored`, stored under `item.restoreCheck`. */
export const RestoreCheckResultSchema = z.object({
  status: z.enum(['RESTORED', 'WAITING']),
  restored: RestoreCountsSchema,
  pending: RestoreCountsSchema,
  /** Every job's pause status was seen restored once; later checks skip listing all jobs again. */
  jobsVerified: z.boolean(),
});
export type RestoreCheckResult = z.infer<typeof RestoreCheckResultSchema>;

/** Input of `stop-compute`: the Map item. */
export const StopItemSchema = RotationItemSchema;
export type StopItem = z.infer<typeof StopItemSchema>;

/** Input of `check-compute-stopped`: the item after `stop-compute` (and possibly an earlier check). */
export const StopCheckItemSchema = RotationItemSchema.extend({
  compute: StopResultSchema,
  computeCheck: StopCheckResultSchema.optional(),
});
export type StopCheckItem = z.infer<typeof StopCheckItemSchema>;

/**
 * Input of `restore-compute`. It also runs as the compensation step after a failure anywhere, so
 * `item.compute` may be missing (stop-compute failed or never ran): the snapshot key is then derived.
 */
export const RestoreItemSchema = RotationItemSchema.extend({ compute: StopResultSchema.optional() });
export type RestoreItem = z.infer<typeof RestoreItemSchema>;

/** Input of `check-compute-restored`: the item after `restore-compute` (and possibly an earlier check). */
export const RestoreCheckItemSchema = RotationItemSchema.extend({
  restore: RestoreResultSchema,
  restoreCheck: RestoreCheckResultSchema.optional(),
});
export type RestoreCheckItem = z.infer<typeof RestoreCheckItemSchema>;

/** The deterministic snapshot key: the compensation path finds it even when stop-compute failed midway. */
export function snapshotKeyOf(item: { executionId: string; workspace: { workspaceId: number } }): string {
  return `${item.executionId}/${item.workspace.workspaceId}/compute-snapshot.json`;
}
