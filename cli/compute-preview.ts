import type { ComputeCounts, ComputeSnapshot, RestoreCounts } from '../lib/compute/model.ts';
import {
  readClusters,
  readJobs,
  readPipelines,
  readPools,
  readWarehouses,
  runInfo,
} from '../lib/compute/read.ts';
import {
  decideRuns,
  isAllPurpose,
  isClassicWarehouse,
  isLiveCluster,
  isRunningWarehouse,
  isUnpaused,
  pausableJob,
  restoreSetCounts,
  snapshotCounts,
} from '../lib/compute/rules.ts';
import type { WorkspaceApi } from '../lib/databricks/api.ts';
import type { ActiveRunsPolicy } from '../lib/rotation.ts';

/** What "Stop compute" would snapshot and stop in one workspace now, and what restore would bring back. */
export interface ComputePreview {
  /** The same figures the Stop compute step reports (`snapshotCounts`). */
  stops: ComputeCounts;
  /** Of `stops.clusters`: all-purpose (UI/API, restarted afterwards) and job/pipeline/other clusters. */
  allPurposeClusters: number;
  /** Of `stops.warehouses`: serverless ones (stopped once, not chased). */
  serverlessWarehouses: number;
  /** Active runs by what the activeRuns policy does with them. */
  runs: { drain: number; cancel: number; refuse: number };
  /** What restore would bring back (`restoreSetCounts`). */
  restores: RestoreCounts;
}

/**
 * Reads a workspace's compute with the same list calls the Stop compute step snapshots with (GETs only)
 * and counts it with the same rules; nothing is paused or stopped. An open snapshot of an earlier execution
 * (`open/<workspace>.json`) is not looked at: its restore set would be added when stopping.
 */
export async function previewCompute(
  api: WorkspaceApi,
  options: {
    workspaceId: number;
    activeRuns: ActiveRunsPolicy;
    emergency: boolean;
    concurrency: number;
    now: number;
  },
): Promise<ComputePreview> {
  const [clusters, pools, warehouses, jobs, rawRuns, pipelines] = await Promise.all([
    readClusters(api),
    readPools(api),
    readWarehouses(api),
    readJobs(api),
    api.listRuns({ activeOnly: true }),
    readPipelines(api, { withSpec: true, concurrency: options.concurrency }),
  ]);
  const pausable = jobs.flatMap((j) => pausableJob(j) ?? []);
  const continuous = new Set(pausable.filter((j) => isUnpaused(j.continuous)).map((j) => j.job_id));
  const runs = rawRuns.map((r) => runInfo(r, continuous));
  const snapshot: ComputeSnapshot = {
    version: 1,
    executionId: 'plan',
    workspaceId: options.workspaceId,
    deploymentName: api.deploymentName,
    takenAt: options.now,
    clusters,
    pools,
    warehouses,
    jobs: pausable,
    runs,
    pipelines,
  };
  const decision = decideRuns(runs, options.activeRuns, options.emergency);
  return {
    stops: snapshotCounts(snapshot),
    allPurposeClusters: clusters.filter((c) => isLiveCluster(c) && isAllPurpose(c)).length,
    serverlessWarehouses: warehouses.filter((w) => isRunningWarehouse(w) && !isClassicWarehouse(w)).length,
    runs: { drain: decision.drain.length, cancel: decision.cancel.length, refuse: decision.refuse.length },
    restores: restoreSetCounts(snapshot),
  };
}

/** `8 clusters (5 all-purpose, 3 job/pipeline), 2 pools (idle instances released), …` */
export function describeStops(p: ComputePreview, drainMinutes: number): string {
  const s = p.stops;
  const parts: string[] = [];
  if (s.clusters > 0) {
    const other = s.clusters - p.allPurposeClusters;
    parts.push(
      `${s.clusters} cluster(s) terminated (${p.allPurposeClusters} all-purpose${other > 0 ? `, ${other} job/pipeline` : ''})`,
    );
  }
  if (s.pools > 0) parts.push(`${s.pools} pool(s) released (min idle 0)`);
  if (s.warehouses > 0)
    parts.push(
      `${s.warehouses} warehouse(s) stopped${p.serverlessWarehouses > 0 ? ` (${p.serverlessWarehouses} serverless)` : ''}`,
    );
  if (s.pipelines > 0) parts.push(`${s.pipelines} pipeline(s) stopped`);
  if (s.jobsPaused > 0) parts.push(`${s.jobsPaused} job(s) paused (schedule/continuous/trigger)`);
  const runs: string[] = [];
  if (p.runs.drain > 0) runs.push(`${p.runs.drain} drained (up to ${drainMinutes} min)`);
  if (p.runs.cancel > 0) runs.push(`${p.runs.cancel} cancelled`);
  if (p.runs.refuse > 0)
    runs.push(`${p.runs.refuse} refused (activeRuns "fail": the rotation would stop with ActiveRunsPresent)`);
  if (runs.length > 0) parts.push(`active run(s): ${runs.join(', ')}`);
  return parts.length > 0 ? parts.join('; ') : 'nothing running';
}
