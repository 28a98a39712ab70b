import type { KindFault, ScenarioWorkspace } from '../scenario.ts';
import { conflict, invalidParameter, invalidState, notFound } from './errors.ts';
import type { Sim } from './sim.ts';

export type Json = Record<string, unknown>;

/** Emulator-only fields: kept in `state()` (scenario shape), never returned by the API. */
const RUN_PRIVATE = ['remainingSeconds'];

/** Cluster states that hold instances (the reference's "consuming" states; UNKNOWN counts as live). */
export const CONSUMING_CLUSTER_STATES = new Set([
  'PENDING',
  'RUNNING',
  'RESTARTING',
  'RESIZING',
  'TERMINATING',
  'UNKNOWN',
]);
const ACTIVE_RUN_STATES = new Set([
  'QUEUED',
  'PENDING',
  'RUNNING',
  'TERMINATING',
  'BLOCKED',
  'WAITING_FOR_RETRY',
]);
const ACTIVE_PIPELINE_STATES = new Set([
  'DEPLOYING',
  'STARTING',
  'RUNNING',
  'STOPPING',
  'RECOVERING',
  'RESETTING',
]);

interface Cluster {
  obj: Json;
  gen: number;
  /** `startCluster` fault: "a user" starts it `afterSeconds` after it reaches TERMINATED, once. */
  userStart?: { afterSeconds: number; used: boolean };
}
interface Pool {
  obj: Json;
  gen: number;
  idle: number;
  pendingIdle: number;
}
interface Warehouse {
  obj: Json;
  gen: number;
  /** `autoStartWarehouse` fault: a query starts it `afterSeconds` after it reaches STOPPED, once. */
  autoStart?: { afterSeconds: number; used: boolean };
}
interface JobRecord {
  obj: Json;
}
interface RunRecord {
  obj: Json;
  gen: number;
  /** Simulated second at which an active run ends by itself (SUCCESS), or undefined: runs until cancelled. */
  endsAt: number | undefined;
}
interface Pipeline {
  obj: Json;
  gen: number;
  /** Its updates as `GET …/updates` answers them (`UpdateInfo`, newest first). */
  updates: Json[];
}

/**
 * The compute of one workspace (clusters, pools, warehouses, jobs and runs, pipelines) and their
 * platform transitions on the simulated clock. Methods are the platform's rules; they throw `ApiError`
 * where Databricks refuses, and know nothing about HTTP.
 */
export class WorkspaceCompute {
  readonly clusters = new Map<string, Cluster>();
  readonly pools = new Map<string, Pool>();
  readonly warehouses = new Map<string, Warehouse>();
  readonly jobs = new Map<number, JobRecord>();
  readonly runs = new Map<number, RunRecord>();
  readonly pipelines = new Map<string, Pipeline>();
  private nextRunId: number;

  constructor(
    private readonly sim: Sim,
    readonly workspaceId: number,
    source: ScenarioWorkspace,
    faults: KindFault[],
    private readonly principal: string,
  ) {
    for (const c of source.clusters)
      this.clusters.set(c.cluster_id, { obj: structuredClone(c) as Json, gen: 0 });
    for (const p of source.instancePools) {
      const obj = structuredClone(p) as Json;
      const stats = (p.stats ?? {}) as { idle_count?: number; pending_idle_count?: number };
      // used and pending_used are derived from the clusters on the pool (see stats()).
      delete obj.stats;
      this.pools.set(p.instance_pool_id, {
        obj,
        gen: 0,
        idle: stats.idle_count ?? p.min_idle_instances,
        pendingIdle: stats.pending_idle_count ?? 0,
      });
    }
    for (const h of source.warehouses) {
      const obj = structuredClone(h) as Json;
      // The SDK's warehouse waiters read `health.summary` of every poll (sql/api.js): the field is always there.
      obj.health ??= { status: 'HEALTHY' };
      this.warehouses.set(h.id, { obj, gen: 0 });
    }
    for (const j of source.jobs) {
      const obj = structuredClone(j) as Json;
      obj.created_time ??= sim.epochMs(0) - 86_400_000;
      obj.creator_user_name ??= 'alice@example.com';
      this.jobs.set(j.job_id, { obj });
    }
    for (const r of source.runs) {
      const obj = structuredClone(r) as Json;
      obj.run_type ??= 'JOB_RUN';
      obj.start_time ??= sim.epochMs(0) - 600_000;
      const remaining = typeof r.remainingSeconds === 'number' ? r.remainingSeconds : undefined;
      const active = ACTIVE_RUN_STATES.has(r.state.life_cycle_state);
      this.runs.set(r.run_id, {
        obj,
        gen: 0,
        endsAt: active && remaining !== undefined ? remaining : undefined,
      });
    }
    for (const p of source.pipelines) {
      const obj = structuredClone(p) as Json;
      const latest = Array.isArray(obj.latest_updates) ? (obj.latest_updates as Json[]) : [];
      // UpdateInfo.creation_time is epoch ms; UpdateStateInfo (latest_updates) has a string (SDK pipelines model).
      const updates = latest.map((u) => {
        const ms = epochMsOf(u.creation_time);
        return {
          ...structuredClone(u),
          pipeline_id: p.pipeline_id,
          ...(ms === undefined ? {} : { creation_time: ms }),
        };
      });
      for (const u of latest) {
        if (typeof u.creation_time === 'number') u.creation_time = new Date(u.creation_time).toISOString();
      }
      this.pipelines.set(p.pipeline_id, { obj, gen: 0, updates });
    }
    this.nextRunId = Math.max(1000, ...this.runs.keys()) + 1;

    for (const f of faults) {
      if (f.kind === 'startCluster') {
        const c = this.clusters.get(f.cluster_id);
        if (c && f.afterSeconds !== undefined) c.userStart = { afterSeconds: f.afterSeconds, used: false };
        const userStarts = () => {
          if (c?.obj.state !== 'TERMINATED') return;
          this.launch(c);
          this.sim.recordStart(this.workspaceId, 'cluster', String(c.obj.cluster_id), 'fault');
        };
        if (c && f.atSeconds !== undefined) this.sim.after(f.atSeconds, userStarts);
        if (c && f.afterStopSeconds !== undefined) this.afterFirstStop.push([f.afterStopSeconds, userStarts]);
      }
      if (f.kind === 'autoStartWarehouse') {
        const h = this.warehouses.get(f.id);
        if (h) h.autoStart = { afterSeconds: f.afterSeconds, used: false };
      }
    }
    this.scheduleInitialTransitions();
  }

  /** `startCluster` faults timed from the first `clusters/delete` of this workspace. */
  private readonly afterFirstStop: Array<[number, () => void]> = [];

  // ---------------------------------------------------------------- clusters

  /**
   * A missing cluster is 400 INVALID_PARAMETER_VALUE "Cluster <id> does not exist", not a 404: the official
   * SDKs' generated error overrides map exactly this answer to ResourceDoesNotExist (databricks-sdk-go
   * `apierr/error_overrides.go`, databricks-sdk-py `errors/overrides.py`; the Python SDK's integration test
   * `test_error_unmarshall` expects it from a real workspace). Every cluster call answers it alike.
   */
  cluster(id: unknown): Cluster {
    if (typeof id !== 'string' || id === '') throw invalidParameter('Missing required field: cluster_id');
    const c = this.clusters.get(id);
    if (!c) throw invalidParameter(`Cluster ${id} does not exist`);
    return c;
  }

  /** `clusters/delete`: terminate (idempotent on TERMINATING/TERMINATED). */
  terminateCluster(id: unknown): void {
    for (const [seconds, run] of this.afterFirstStop.splice(0)) this.sim.after(seconds, run);
    this.terminate(this.cluster(id), 'USER_REQUEST');
  }

  /** `clusters/start`: only all-purpose (UI/API) clusters, only from TERMINATED. */
  startCluster(id: unknown): void {
    const c = this.cluster(id);
    const source = String(c.obj.cluster_source ?? 'UI');
    if (source !== 'UI' && source !== 'API') {
      throw invalidParameter(
        `Cluster ${c.obj.cluster_id} was created by ${source} and cannot be started: clusters launched to run a job, pipeline or SQL warehouse are started by their owner`,
      );
    }
    if (c.obj.state !== 'TERMINATED') {
      throw invalidState(`Cluster ${c.obj.cluster_id} is in unexpected state ${title(String(c.obj.state))}.`);
    }
    this.launch(c);
    this.sim.recordStart(this.workspaceId, 'cluster', String(c.obj.cluster_id), 'api');
  }

  private terminate(c: Cluster, code: string): void {
    if (c.obj.state === 'TERMINATING' || c.obj.state === 'TERMINATED') return;
    c.gen++;
    const gen = c.gen;
    c.obj.state = 'TERMINATING';
    c.obj.state_message = 'Terminating the cluster';
    c.obj.termination_reason = {
      code,
      type: 'SUCCESS',
      parameters: code === 'USER_REQUEST' ? { username: this.principal } : {},
    };
    this.sim.after(this.sim.draw('clusterTerminate', String(c.obj.cluster_id)), () => {
      if (c.gen === gen) this.terminated(c);
    });
  }

  private terminated(c: Cluster): void {
    c.obj.state = 'TERMINATED';
    c.obj.state_message = '';
    c.obj.terminated_time = this.sim.epochMs();
    this.releaseToPool(c);
    this.failRunsOn(c);
    const userStart = c.userStart;
    if (userStart && !userStart.used) {
      userStart.used = true;
      this.sim.after(userStart.afterSeconds, () => {
        if (c.obj.state !== 'TERMINATED') return;
        this.launch(c);
        this.sim.recordStart(this.workspaceId, 'cluster', String(c.obj.cluster_id), 'fault');
      });
    }
  }

  private launch(c: Cluster): void {
    c.gen++;
    const gen = c.gen;
    c.obj.state = 'PENDING';
    c.obj.state_message = 'Starting Spark';
    delete c.obj.termination_reason;
    delete c.obj.terminated_time;
    this.takeFromPool(c);
    this.sim.after(this.sim.draw('clusterStart', String(c.obj.cluster_id)), () => {
      if (c.gen !== gen) return;
      c.obj.state = 'RUNNING';
      c.obj.state_message = '';
      c.obj.last_restarted_time = this.sim.epochMs();
    });
  }

  /**
   * A job cluster terminated while its run is active takes the run down: the run ends INTERNAL_ERROR / FAILED
   * (reference §3: "Terminating JOB clusters directly fails the run"; SDK jobs model: INTERNAL_ERROR is the
   * terminal state of a run whose cluster went away, and the Jobs service then cleans up the cluster). A cluster
   * the run itself released (`JOB_FINISHED`) does not.
   */
  private failRunsOn(c: Cluster): void {
    const reason = c.obj.termination_reason as Json | undefined;
    if (reason?.code === 'JOB_FINISHED') return;
    for (const r of this.runs.values()) {
      const on = (r.obj.cluster_instance as { cluster_id?: string } | undefined)?.cluster_id;
      if (on !== c.obj.cluster_id || !this.isActive(r)) continue;
      this.finishRun(
        r,
        'FAILED',
        `Cluster ${c.obj.cluster_id} was terminated during the run. Reason: ${reason?.code ?? 'UNKNOWN'} (${reason?.type ?? 'SUCCESS'}).`,
      );
    }
  }

  /** Instances a cluster holds: driver + workers (autoscaling clusters run at min_workers here). */
  private instances(c: Cluster): number {
    const workers =
      typeof c.obj.num_workers === 'number'
        ? c.obj.num_workers
        : Number((c.obj.autoscale as { min_workers?: number } | undefined)?.min_workers ?? 0);
    return workers + 1;
  }

  private takeFromPool(c: Cluster): void {
    const pool = this.poolOf(c);
    if (!pool) return;
    pool.idle = Math.max(0, pool.idle - this.instances(c));
    this.settlePool(pool);
  }

  private releaseToPool(c: Cluster): void {
    const pool = this.poolOf(c);
    if (!pool) return;
    pool.idle += this.instances(c);
    this.settlePool(pool);
  }

  private poolOf(c: Cluster): Pool | undefined {
    return typeof c.obj.instance_pool_id === 'string' ? this.pools.get(c.obj.instance_pool_id) : undefined;
  }

  // ---------------------------------------------------------------- instance pools

  pool(id: unknown): Pool {
    if (typeof id !== 'string' || id === '')
      throw invalidParameter('Missing required field: instance_pool_id');
    const p = this.pools.get(id);
    if (!p) throw notFound(`Instance pool ${id} does not exist`);
    return p;
  }

  /** `InstancePoolStats`: idle instances are tracked; used/pending_used come from the clusters on the pool. */
  poolStats(p: Pool): Json {
    let used = 0;
    let pendingUsed = 0;
    for (const c of this.clusters.values()) {
      if (c.obj.instance_pool_id !== p.obj.instance_pool_id) continue;
      if (c.obj.state === 'PENDING') pendingUsed += this.instances(c);
      else if (CONSUMING_CLUSTER_STATES.has(String(c.obj.state))) used += this.instances(c);
    }
    return {
      used_count: used,
      idle_count: p.idle,
      pending_used_count: pendingUsed,
      pending_idle_count: p.pendingIdle,
    };
  }

  poolView(p: Pool): Json {
    return { ...structuredClone(p.obj), stats: this.poolStats(p) };
  }

  /** `instance-pools/edit`: replaces min_idle_instances, max_capacity, idle_instance_autotermination_minutes, custom_tags. */
  editPool(body: Json): void {
    for (const field of ['instance_pool_id', 'instance_pool_name', 'node_type_id']) {
      if (typeof body[field] !== 'string' || body[field] === '') {
        throw invalidParameter(`Missing required field: ${field}`);
      }
    }
    const p = this.pool(body.instance_pool_id);
    if (body.node_type_id !== p.obj.node_type_id) {
      throw invalidParameter(
        `node_type_id cannot be changed on instance pool ${p.obj.instance_pool_id} (is ${p.obj.node_type_id}, got ${body.node_type_id})`,
      );
    }
    const minIdle = optionalInt(body, 'min_idle_instances', 0, 10_000);
    const maxCapacity = optionalInt(body, 'max_capacity', 1, 100_000);
    const autoTermination = optionalInt(body, 'idle_instance_autotermination_minutes', 0, 10_000);
    if (maxCapacity !== undefined && minIdle !== undefined && minIdle > maxCapacity) {
      throw invalidParameter('min_idle_instances must not exceed max_capacity');
    }
    if (
      body.custom_tags !== undefined &&
      (typeof body.custom_tags !== 'object' || body.custom_tags === null)
    ) {
      throw invalidParameter('custom_tags must be an object of string tags');
    }
    p.obj.instance_pool_name = body.instance_pool_name;
    // Edit replaces these fields: one left out goes back to its default (reference §4 [CONV]).
    setOrDelete(p.obj, 'min_idle_instances', minIdle ?? 0);
    setOrDelete(p.obj, 'max_capacity', maxCapacity);
    setOrDelete(p.obj, 'idle_instance_autotermination_minutes', autoTermination);
    setOrDelete(p.obj, 'custom_tags', body.custom_tags);
    this.settlePool(p, true);
  }

  /**
   * Moves idle instances toward `min_idle_instances`: extra idle instances are released after the
   * auto-termination time (a drawn `poolIdleRelease` when it is 0); missing ones launch (`poolIdleFill`).
   */
  private settlePool(p: Pool, byApi = false): void {
    p.gen++;
    const gen = p.gen;
    const id = String(p.obj.instance_pool_id);
    const target = Number(p.obj.min_idle_instances ?? 0);
    p.pendingIdle = Math.max(0, target - p.idle);
    if (p.idle > target) {
      const minutes = p.obj.idle_instance_autotermination_minutes;
      const delay = minutes === 0 ? this.sim.draw('poolIdleRelease', id) : Number(minutes ?? 60) * 60;
      this.sim.after(delay, () => {
        if (p.gen === gen) p.idle = target;
      });
    } else if (p.pendingIdle > 0) {
      if (byApi) this.sim.recordStart(this.workspaceId, 'pool', id, 'api');
      this.sim.after(this.sim.draw('poolIdleFill', id), () => {
        if (p.gen !== gen) return;
        p.idle += p.pendingIdle;
        p.pendingIdle = 0;
      });
    }
  }

  // ---------------------------------------------------------------- SQL warehouses

  /** A missing warehouse is 404 RESOURCE_DOES_NOT_EXIST (no SDK override says otherwise). */
  warehouse(id: string): Warehouse {
    const h = this.warehouses.get(id);
    if (!h) throw notFound(`SQL warehouse ${id} does not exist`);
    return h;
  }

  /**
   * The clusters a classic warehouse runs on: `cluster_source` SQL, tagged `SqlWarehouseId` with its id (the
   * default tag Databricks puts on compute of Databricks SQL: "Monitor usage using cluster, pool, and workspace
   * tags", learn.microsoft.com/azure/databricks/administration-guide/account-settings/usage-detail-tags-azure).
   */
  private sqlClustersOf(h: Warehouse): Cluster[] {
    return [...this.clusters.values()].filter((c) => {
      if (c.obj.cluster_source !== 'SQL') return false;
      const tags = {
        ...(c.obj.custom_tags as Json | undefined),
        ...(c.obj.default_tags as Json | undefined),
      };
      return tags.SqlWarehouseId === h.obj.id;
    });
  }

  /**
   * `warehouses/{id}/stop`: RUNNING/STARTING → STOPPING → STOPPED; stopped or stopping: no-op. The warehouse's
   * SQL clusters terminate with it.
   */
  stopWarehouse(id: string): void {
    const h = this.warehouse(id);
    if (h.obj.state !== 'RUNNING' && h.obj.state !== 'STARTING') return;
    h.gen++;
    const gen = h.gen;
    h.obj.state = 'STOPPING';
    for (const c of this.sqlClustersOf(h)) this.terminate(c, 'USER_REQUEST');
    this.sim.after(this.sim.draw('warehouseStop', id), () => {
      if (h.gen === gen) this.warehouseStopped(h);
    });
  }

  /** `warehouses/{id}/start`: STOPPED → STARTING → RUNNING; running or starting: no-op. */
  startWarehouse(id: string): void {
    const h = this.warehouse(id);
    if (h.obj.state === 'RUNNING' || h.obj.state === 'STARTING') return;
    if (h.obj.state !== 'STOPPED') {
      throw invalidState(
        `SQL warehouse ${id} is ${h.obj.state} and cannot be started now; retry once it is STOPPED`,
      );
    }
    this.launchWarehouse(h);
    this.sim.recordStart(this.workspaceId, 'warehouse', id, 'api');
  }

  private warehouseStopped(h: Warehouse): void {
    h.obj.state = 'STOPPED';
    const autoStart = h.autoStart;
    if (autoStart && !autoStart.used) {
      autoStart.used = true;
      this.sim.after(autoStart.afterSeconds, () => {
        if (h.obj.state !== 'STOPPED') return;
        this.launchWarehouse(h);
        this.sim.recordStart(this.workspaceId, 'warehouse', String(h.obj.id), 'fault');
      });
    }
  }

  /** STARTING, then RUNNING; its SQL clusters launch with it. */
  private launchWarehouse(h: Warehouse): void {
    h.gen++;
    const gen = h.gen;
    h.obj.state = 'STARTING';
    for (const c of this.sqlClustersOf(h)) if (c.obj.state === 'TERMINATED') this.launch(c);
    this.sim.after(this.sim.draw('warehouseStart', String(h.obj.id)), () => {
      if (h.gen === gen) h.obj.state = 'RUNNING';
    });
  }

  // ---------------------------------------------------------------- jobs and runs

  /** A missing job is 400 INVALID_PARAMETER_VALUE "Job <id> does not exist." (see `cluster()`). */
  job(id: unknown): JobRecord {
    const jobId = toInt(id, 'job_id');
    const j = this.jobs.get(jobId);
    if (!j) throw invalidParameter(`Job ${jobId} does not exist.`);
    return j;
  }

  /** `jobs/update`: each top-level field of new_settings replaces the job's; tasks/job_clusters merge by key. */
  updateJob(body: Json): void {
    const j = this.job(body.job_id);
    const newSettings = body.new_settings ?? {};
    if (typeof newSettings !== 'object' || newSettings === null || Array.isArray(newSettings)) {
      throw invalidParameter('new_settings must be an object');
    }
    const remove = body.fields_to_remove ?? [];
    if (!Array.isArray(remove) || remove.some((f) => typeof f !== 'string')) {
      throw invalidParameter('fields_to_remove must be a list of field names');
    }
    const settings = structuredClone((j.obj.settings ?? {}) as Json);
    for (const [field, value] of Object.entries(newSettings as Json)) {
      if (
        (field === 'tasks' || field === 'job_clusters') &&
        Array.isArray(value) &&
        Array.isArray(settings[field])
      ) {
        settings[field] = mergeByKey(
          settings[field] as Json[],
          value as Json[],
          field === 'tasks' ? 'task_key' : 'job_cluster_key',
        );
      } else {
        settings[field] = structuredClone(value);
      }
    }
    for (const field of remove as string[]) delete settings[field];
    validateJobSettings(settings);
    const wasPaused = pauseOf(j.obj.settings, 'continuous') === 'PAUSED';
    j.obj.settings = settings;
    // A continuous job keeps one run going: unpausing it starts one if none is active.
    if (wasPaused && settings.continuous && pauseOf(settings, 'continuous') !== 'PAUSED')
      this.ensureContinuousRun(j);
  }

  /** A missing run is 400 INVALID_PARAMETER_VALUE "Run <id> does not exist." (see `cluster()`). */
  run(id: unknown): RunRecord {
    const runId = toInt(id, 'run_id');
    const r = this.runs.get(runId);
    if (!r) throw invalidParameter(`Run ${runId} does not exist.`);
    return r;
  }

  isActive(r: RunRecord): boolean {
    return ACTIVE_RUN_STATES.has(lifeCycle(r));
  }

  /** `runs/cancel`: asynchronous; the run is TERMINATING for a drawn `runCancel`, then CANCELED. */
  cancelRun(id: unknown): void {
    const r = this.run(id);
    if (!this.isActive(r) || lifeCycle(r) === 'TERMINATING') return;
    r.gen++;
    const gen = r.gen;
    r.obj.state = {
      ...(r.obj.state as Json),
      life_cycle_state: 'TERMINATING',
      state_message: 'Run cancellation requested',
    };
    this.sim.after(this.sim.draw('runCancel', String(r.obj.run_id)), () => {
      if (r.gen === gen) this.finishRun(r, 'CANCELED');
    });
  }

  /**
   * The run as `runs/get` (`Run`) or, with `listItem`, as `runs/list` (`BaseRun`, without `iterations`) answers
   * it. `next_page_token` is left out of both: the emulator answers a run's arrays on one page.
   */
  runView(r: RunRecord, listItem = false): Json {
    const view = structuredClone(r.obj);
    for (const field of RUN_PRIVATE) delete view[field];
    delete view.next_page_token;
    if (listItem) delete view.iterations;
    return view;
  }

  runState(r: RunRecord): Json {
    const out = structuredClone(r.obj);
    if (r.endsAt !== undefined && this.isActive(r)) out.remainingSeconds = Math.max(0, r.endsAt - this.sim.t);
    return out;
  }

  private finishRun(r: RunRecord, result: 'SUCCESS' | 'CANCELED' | 'FAILED', message?: string): void {
    r.gen++;
    r.obj.state = {
      life_cycle_state: result === 'FAILED' ? 'INTERNAL_ERROR' : 'TERMINATED',
      result_state: result,
      state_message: message ?? (result === 'CANCELED' ? 'Run cancelled.' : ''),
      user_cancelled_or_timedout: result === 'CANCELED',
    };
    r.obj.end_time = this.sim.epochMs();
    r.endsAt = undefined;
    const clusterId = (r.obj.cluster_instance as { cluster_id?: string } | undefined)?.cluster_id;
    const c = clusterId === undefined ? undefined : this.clusters.get(clusterId);
    if (c) this.terminate(c, 'JOB_FINISHED');
    const job = typeof r.obj.job_id === 'number' ? this.jobs.get(r.obj.job_id) : undefined;
    if (
      job &&
      (job.obj.settings as Json | undefined)?.continuous &&
      pauseOf(job.obj.settings, 'continuous') !== 'PAUSED'
    ) {
      this.ensureContinuousRun(job);
    }
  }

  private ensureContinuousRun(job: JobRecord): void {
    for (const r of this.runs.values()) if (r.obj.job_id === job.obj.job_id && this.isActive(r)) return;
    const runId = this.nextRunId++;
    this.runs.set(runId, {
      obj: {
        run_id: runId,
        job_id: job.obj.job_id,
        run_type: 'JOB_RUN',
        trigger: 'CONTINUOUS',
        start_time: this.sim.epochMs(),
        state: { life_cycle_state: 'RUNNING', state_message: '' },
      },
      gen: 0,
      endsAt: undefined,
    });
  }

  // ---------------------------------------------------------------- pipelines

  /**
   * A missing pipeline is 404 RESOURCE_DOES_NOT_EXIST (terraform-provider-databricks waits for a deleted
   * pipeline with `apierr.IsMissing`, a 404).
   */
  pipeline(id: string): Pipeline {
    const p = this.pipelines.get(id);
    if (!p) throw notFound(`Pipeline ${id} does not exist.`);
    return p;
  }

  /** `pipelines/{id}/stop`: → STOPPING → IDLE after a drawn `pipelineStop`; idle or failed: no-op. */
  stopPipeline(id: string): void {
    const p = this.pipeline(id);
    const state = String(p.obj.state);
    if (!ACTIVE_PIPELINE_STATES.has(state) || state === 'STOPPING') return;
    p.gen++;
    const gen = p.gen;
    p.obj.state = 'STOPPING';
    this.setLatestUpdateState(p, 'STOPPING');
    const c = this.pipelineCluster(p);
    if (c) this.terminate(c, 'USER_REQUEST');
    this.sim.after(this.sim.draw('pipelineStop', id), () => {
      if (p.gen !== gen) return;
      p.obj.state = 'IDLE';
      this.setLatestUpdateState(p, 'CANCELED');
    });
  }

  /** `POST pipelines/{id}/updates`: IDLE/FAILED → STARTING → RUNNING; an active update → 409. */
  startPipelineUpdate(id: string, body: Json): string {
    const p = this.pipeline(id);
    if (ACTIVE_PIPELINE_STATES.has(String(p.obj.state))) {
      throw conflict(
        `Pipeline ${id} already has an active update (state ${p.obj.state}); stop it first or wait.`,
      );
    }
    if (p.obj.state === 'DELETED') throw invalidState(`Pipeline ${id} is deleted.`);
    if (body.full_refresh !== undefined && typeof body.full_refresh !== 'boolean') {
      throw invalidParameter('full_refresh must be a boolean');
    }
    const updateId = this.sim.uuid(`pipeline-update:${id}`);
    p.gen++;
    const gen = p.gen;
    p.obj.state = 'STARTING';
    const previous = Array.isArray(p.obj.latest_updates) ? (p.obj.latest_updates as Json[]) : [];
    const created = this.sim.epochMs();
    // latest_updates items are UpdateStateInfo (creation_time a string); the updates API answers UpdateInfo
    // (creation_time epoch ms) — both per the SDK's pipelines model.
    p.obj.latest_updates = [
      { update_id: updateId, state: 'WAITING_FOR_RESOURCES', creation_time: new Date(created).toISOString() },
      ...previous,
    ].slice(0, 5);
    const c = this.pipelineCluster(p);
    p.updates.unshift({
      update_id: updateId,
      pipeline_id: id,
      state: 'WAITING_FOR_RESOURCES',
      creation_time: created,
      cause: 'API_CALL',
      full_refresh: body.full_refresh === true,
      ...(c ? { cluster_id: c.obj.cluster_id } : {}),
      ...(body.validate_only === true ? { validate_only: true } : {}),
    });
    if (c && c.obj.state === 'TERMINATED') this.launch(c);
    this.sim.recordStart(this.workspaceId, 'pipeline', id, 'api');
    this.sim.after(this.sim.draw('pipelineStart', id), () => {
      if (p.gen !== gen) return;
      p.obj.state = 'RUNNING';
      this.setLatestUpdateState(p, 'RUNNING');
    });
    return updateId;
  }

  /** The list item (`PipelineStateInfo`): the state fields only, no spec (SDK pipelines model). */
  pipelineListItem(p: Pipeline): Json {
    const out: Json = {};
    for (const field of PIPELINE_STATE_INFO_FIELDS) {
      if (p.obj[field] !== undefined) out[field] = structuredClone(p.obj[field]);
    }
    return out;
  }

  /** `GET pipelines/{id}/updates/{update_id}`: the update (`UpdateInfo`); a missing one is 404. */
  pipelineUpdate(id: string, updateId: string): Json {
    const u = this.pipeline(id).updates.find((x) => x.update_id === updateId);
    if (!u) throw notFound(`Update ${updateId} does not exist in pipeline ${id}.`);
    return structuredClone(u);
  }

  /** `GET pipelines/{id}/updates`: newest first (`UpdateInfo`). */
  pipelineUpdates(id: string): Json[] {
    return structuredClone(this.pipeline(id).updates);
  }

  private pipelineCluster(p: Pipeline): Cluster | undefined {
    return typeof p.obj.cluster_id === 'string' ? this.clusters.get(p.obj.cluster_id) : undefined;
  }

  private setLatestUpdateState(p: Pipeline, state: string): void {
    const first = Array.isArray(p.obj.latest_updates)
      ? (p.obj.latest_updates[0] as Json | undefined)
      : undefined;
    if (first) first.state = state;
    const update = p.updates.find((u) => u.update_id === first?.update_id);
    if (update) update.state = state;
  }

  // ---------------------------------------------------------------- workspace-level views

  /** What still runs in the customer VPC (the workspace update's precondition), by kind. */
  runningClassicCompute(): { clusters: string[]; pools: string[]; warehouses: string[] } {
    const clusters = [...this.clusters.values()]
      .filter((c) => CONSUMING_CLUSTER_STATES.has(String(c.obj.state)))
      .map((c) => String(c.obj.cluster_id));
    const pools = [...this.pools.values()]
      .filter((p) => Object.values(this.poolStats(p)).some((n) => Number(n) > 0))
      .map((p) => String(p.obj.instance_pool_id));
    const warehouses = [...this.warehouses.values()]
      .filter((h) => h.obj.enable_serverless_compute !== true)
      .filter((h) => ['STARTING', 'RUNNING', 'STOPPING'].includes(String(h.obj.state)))
      .map((h) => String(h.obj.id));
    return { clusters, pools, warehouses };
  }

  /** Current values in the scenario's shape. */
  state(): Json {
    return {
      clusters: [...this.clusters.values()].map((c) => structuredClone(c.obj)),
      instancePools: [...this.pools.values()].map((p) => this.poolView(p)),
      warehouses: [...this.warehouses.values()].map((h) => structuredClone(h.obj)),
      jobs: [...this.jobs.values()].map((j) => structuredClone(j.obj)),
      runs: [...this.runs.values()].map((r) => this.runState(r)),
      pipelines: [...this.pipelines.values()].map((p) => structuredClone(p.obj)),
    };
  }

  /** Slowest stop and start of what runs at the start, from the first draws (report's platform minimum). */
  platformTimings(): { slowestStopSeconds: number; slowestStartSeconds: number } {
    let stop = 0;
    let start = 0;
    for (const c of this.clusters.values()) {
      const id = String(c.obj.cluster_id);
      if (!CONSUMING_CLUSTER_STATES.has(String(c.obj.state)) || c.obj.state === 'TERMINATING') continue;
      const pool = this.poolOf(c);
      const release = pool ? this.releaseDelay(pool) : 0;
      stop = Math.max(stop, this.sim.peek('clusterTerminate', id) + release);
      if (c.obj.cluster_source === 'UI' || c.obj.cluster_source === 'API')
        start = Math.max(start, this.sim.peek('clusterStart', id));
    }
    for (const p of this.pools.values()) {
      if (p.idle > 0) stop = Math.max(stop, this.releaseDelay(p));
      if (Number(p.obj.min_idle_instances ?? 0) > 0)
        start = Math.max(start, this.sim.peek('poolIdleFill', String(p.obj.instance_pool_id)));
    }
    for (const h of this.warehouses.values()) {
      if (h.obj.state !== 'RUNNING' && h.obj.state !== 'STARTING') continue;
      stop = Math.max(stop, this.sim.peek('warehouseStop', String(h.obj.id)));
      start = Math.max(start, this.sim.peek('warehouseStart', String(h.obj.id)));
    }
    for (const p of this.pipelines.values()) {
      if (!ACTIVE_PIPELINE_STATES.has(String(p.obj.state))) continue;
      stop = Math.max(stop, this.sim.peek('pipelineStop', String(p.obj.pipeline_id)));
      start = Math.max(start, this.sim.peek('pipelineStart', String(p.obj.pipeline_id)));
    }
    return { slowestStopSeconds: stop, slowestStartSeconds: start };
  }

  private releaseDelay(p: Pool): number {
    return this.sim.peek('poolIdleRelease', String(p.obj.instance_pool_id));
  }

  /** Transitions the scenario starts in the middle of (a PENDING cluster, a run with remainingSeconds, …). */
  private scheduleInitialTransitions(): void {
    for (const c of this.clusters.values()) {
      const id = String(c.obj.cluster_id);
      const gen = c.gen;
      if (c.obj.state === 'PENDING' || c.obj.state === 'RESTARTING' || c.obj.state === 'RESIZING') {
        this.sim.after(this.sim.initial('clusterStart', id), () => {
          if (c.gen !== gen) return;
          c.obj.state = 'RUNNING';
          c.obj.state_message = '';
        });
      } else if (c.obj.state === 'TERMINATING') {
        this.sim.after(this.sim.initial('clusterTerminate', id), () => {
          if (c.gen === gen) this.terminated(c);
        });
      }
    }
    for (const p of this.pools.values()) this.settlePool(p);
    for (const h of this.warehouses.values()) {
      const id = String(h.obj.id);
      if (h.obj.state === 'STARTING') {
        this.sim.after(this.sim.initial('warehouseStart', id), () => {
          if (h.gen === 0) h.obj.state = 'RUNNING';
        });
      } else if (h.obj.state === 'STOPPING') {
        this.sim.after(this.sim.initial('warehouseStop', id), () => {
          if (h.gen === 0) this.warehouseStopped(h);
        });
      }
    }
    for (const r of this.runs.values()) {
      if (lifeCycle(r) === 'TERMINATING') {
        this.sim.after(this.sim.initial('runCancel', String(r.obj.run_id)), () => {
          if (r.gen === 0) this.finishRun(r, 'CANCELED');
        });
      } else if (r.endsAt !== undefined) {
        this.sim.after(r.endsAt, () => {
          if (r.gen === 0) this.finishRun(r, 'SUCCESS');
        });
      }
    }
    for (const p of this.pipelines.values()) {
      const id = String(p.obj.pipeline_id);
      if (['STARTING', 'DEPLOYING', 'RECOVERING', 'RESETTING'].includes(String(p.obj.state))) {
        this.sim.after(this.sim.initial('pipelineStart', id), () => {
          if (p.gen === 0) p.obj.state = 'RUNNING';
        });
      } else if (p.obj.state === 'STOPPING') {
        this.sim.after(this.sim.initial('pipelineStop', id), () => {
          if (p.gen === 0) p.obj.state = 'IDLE';
        });
      }
    }
  }
}

/** pipelines `PipelineStateInfo` (the items of `GET /api/2.0/pipelines`). */
const PIPELINE_STATE_INFO_FIELDS = [
  'cluster_id',
  'creator_user_name',
  'health',
  'latest_updates',
  'name',
  'pipeline_id',
  'run_as_user_name',
  'state',
];

/** Epoch ms of a scenario time: a number as is, an ISO string parsed. */
function epochMsOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(parsed) ? undefined : parsed;
}

function lifeCycle(r: RunRecord): string {
  return String((r.obj.state as Json | undefined)?.life_cycle_state ?? 'RUNNING');
}

function pauseOf(settings: unknown, field: string): unknown {
  return ((settings as Json | undefined)?.[field] as Json | undefined)?.pause_status;
}

function title(state: string): string {
  return state.charAt(0) + state.slice(1).toLowerCase();
}

function toInt(value: unknown, field: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) {
    throw invalidParameter(
      value === undefined ? `Missing required field: ${field}` : `${field} must be a positive integer`,
    );
  }
  return n;
}

function optionalInt(body: Json, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(`${field} must be an integer between ${min} and ${max}`);
  }
  return value;
}

function setOrDelete(obj: Json, field: string, value: unknown): void {
  if (value === undefined) delete obj[field];
  else obj[field] = structuredClone(value);
}

function mergeByKey(current: Json[], updates: Json[], key: string): Json[] {
  const out = current.map((x) => structuredClone(x));
  for (const u of updates) {
    const i = out.findIndex((x) => x[key] !== undefined && x[key] === u[key]);
    if (i >= 0) out[i] = structuredClone(u);
    else out.push(structuredClone(u));
  }
  return out;
}

/** The JobSettings rules Databricks enforces on update that matter for pausing. */
function validateJobSettings(settings: Json): void {
  const schedule = settings.schedule as Json | undefined;
  if (schedule !== undefined) {
    if (typeof schedule !== 'object' || schedule === null)
      throw invalidParameter('schedule must be an object');
    if (typeof schedule.quartz_cron_expression !== 'string' || schedule.quartz_cron_expression === '') {
      throw invalidParameter('Missing required field: schedule.quartz_cron_expression');
    }
    if (typeof schedule.timezone_id !== 'string' || schedule.timezone_id === '') {
      throw invalidParameter('Missing required field: schedule.timezone_id');
    }
  }
  for (const field of ['schedule', 'continuous', 'trigger']) {
    const part = settings[field] as Json | undefined;
    if (
      part &&
      part.pause_status !== undefined &&
      part.pause_status !== 'PAUSED' &&
      part.pause_status !== 'UNPAUSED'
    ) {
      throw invalidParameter(
        `${field}.pause_status must be PAUSED or UNPAUSED, got ${JSON.stringify(part.pause_status)}`,
      );
    }
  }
  if (settings.schedule !== undefined && settings.continuous !== undefined) {
    throw invalidParameter('A job can have either schedule or continuous, not both.');
  }
}
