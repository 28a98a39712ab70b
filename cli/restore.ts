import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import type { ComputeDeps } from '../lib/compute/deps.ts';
import type {
  ComputeSnapshot,
  RestoreCheckResult,
  RestoreItem,
  RestoreResult,
} from '../lib/compute/model.ts';
import { clusterInfo, orNotFound, pipelineInfo, poolInfo, warehouseInfo } from '../lib/compute/read.ts';
import { checkComputeRestored, restoreCompute } from '../lib/compute/restore.ts';
import {
  assessRestore,
  type RestoreAction,
  type RestoreView,
  restoreSet,
  snapshotCounts,
} from '../lib/compute/rules.ts';
import {
  FileSnapshotStore,
  loadRestoreSet,
  openSnapshotKeyOf,
  S3SnapshotStore,
  type SnapshotStore,
} from '../lib/compute/snapshot-store.ts';
import { mapLimit } from '../lib/concurrency.ts';
import type { WorkspaceApi } from '../lib/databricks/api.ts';
import { RotatorError } from '../lib/errors.ts';
import { readLock } from '../lib/lock/index.ts';
import type { RotationItem } from '../lib/rotation.ts';
import { type Hooks, openTarget, TARGET_FLAGS, TARGET_HELP, type Target } from './context.ts';
import { HELP, parseCommand, seconds, UsageError, workspaceId } from './flags.ts';
import { countsText, type Io } from './io.ts';

export const RESTORE_HELP = `usage: cmk-rotator restore --workspace ID (--bucket NAME | --snapshot-dir DIR) [--snapshot KEY] [--yes]

Brings back exactly what a compute snapshot says ran, with the rotation's own restore code (restoreCompute,
then checkComputeRestored until everything runs again): for a workspace whose execution died (aborted, timed
out) between "Stop compute" and "Check compute restored". The snapshot is the one the workspace's open-snapshot
pointer (open/<workspace id>.json) names, unless --snapshot names one; its restore additions (compute started
during the window) are restored too. A DRY RUN unless --yes: it reads the snapshot and the workspace (GETs
only) and prints what it would start and unpause. With --yes it starts all-purpose clusters, warehouses and
continuous pipelines that ran, gives pools back their idle settings and unpauses the schedules it paused, then
waits until they run (the pointer is removed once everything is back). It refuses while the workspace is not
RUNNING (nothing may start while Databricks applies a key change). Exit code: 0 dry run, or everything back;
1 not restored, refused, or no snapshot; 2 a command-line mistake.

  --workspace ID           the workspace (required)
  --bucket NAME            the snapshot bucket (stack output SnapshotBucketName)
  --snapshot-dir DIR       a snapshot directory instead (local mode's SNAPSHOT_DIR)
  --snapshot KEY           <execution name>/<workspace id>/compute-snapshot.json (default: the open pointer's)
  --yes                    act (default: dry run)
  --no-wait                with --yes: start, do not wait until everything runs (the pointer stays)
  --interval SECONDS       with --yes: seconds between checks (default 20)
  --timeout-minutes N      with --yes: give up after N minutes (default COMPUTE_RESTORE_TIMEOUT_MINUTES, 45)
  --lock-table NAME        refuse --yes while an execution holds the workspace's lock (stack output LockTableName)
${TARGET_HELP}
  --json                   print one JSON document instead of text
  --verbose                also print the product's structured logs
  -h, --help               this help

examples:
  npx cmk-rotator restore --workspace 1234567890123456 --bucket cmk-rotator-prod-snapshotbucket-abc \\
      --secret-arn "$SECRET" --account-id "$DATABRICKS_ACCOUNT_ID"
  npx cmk-rotator restore --workspace 1234567890123456 --bucket "$BUCKET" --lock-table "$LOCKS" --yes
  npx cmk-rotator restore --workspace 1234567890123456 --scenario my.json --snapshot-dir ./snapshots --yes
`;

const OPTIONS = {
  ...HELP,
  ...TARGET_FLAGS,
  workspace: { type: 'string' },
  bucket: { type: 'string' },
  'snapshot-dir': { type: 'string' },
  snapshot: { type: 'string' },
  yes: { type: 'boolean', default: false },
  'no-wait': { type: 'boolean', default: false },
  interval: { type: 'string' },
  'timeout-minutes': { type: 'string' },
  'lock-table': { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
} as const;

/** One thing restore would do (or did), in the snapshot's words. */
interface Action {
  kind: string;
  id: string;
  name?: string;
  change: string;
}

export interface RestoreReport {
  workspaceId: number;
  dryRun: boolean;
  snapshot: {
    key: string;
    location: string;
    executionId: string;
    takenAt: string;
    /** Where the key came from. */
    from: 'open pointer' | '--snapshot';
    inherited: string[];
  } | null;
  workspaceStatus: string | null;
  /** What restore starts, edits or unpauses now. */
  actions: Action[];
  alreadyBack: Array<{ kind: string; id: string }>;
  onTheWay: Array<{ kind: string; id: string; state?: string }>;
  cannotRestore: Array<{ kind: string; id: string; why: string }>;
  result: RestoreResult | null;
  check: RestoreCheckResult | null;
  /** Why nothing was (or could be) done, when that is the answer. */
  refused: { name: string; message: string } | null;
}

export async function restoreCommand(args: string[], io: Io, hooks: Hooks = {}): Promise<number> {
  const { values } = parseCommand(OPTIONS, args);
  if (values.help) {
    io.out(RESTORE_HELP);
    return 0;
  }
  if (values.workspace === undefined) throw new UsageError('name the workspace: --workspace ID');
  const ws = workspaceId(values.workspace, '--workspace');
  if ((values.bucket === undefined) === (values['snapshot-dir'] === undefined))
    throw new UsageError(
      'name the snapshot store: --bucket NAME (the stack output SnapshotBucketName) or --snapshot-dir DIR, one of them',
    );
  if (
    !values.yes &&
    (values['no-wait'] || values.interval !== undefined || values['timeout-minutes'] !== undefined)
  )
    throw new UsageError('--no-wait, --interval and --timeout-minutes apply only with --yes');
  const interval = seconds(values.interval, '--interval', 20);
  const timeout = values['timeout-minutes'] === undefined ? undefined : Number(values['timeout-minutes']);
  if (timeout !== undefined && !(timeout > 0))
    throw new UsageError(`--timeout-minutes must be a positive number, got ${values['timeout-minutes']}`);

  const target = await openTarget(values, hooks);
  try {
    const store: SnapshotStore = values.bucket
      ? new S3SnapshotStore(values.bucket, new S3Client(target.region ? { region: target.region } : {}))
      : new FileSnapshotStore(values['snapshot-dir'] as string);
    const report = await restore(ws, store, target, io, {
      snapshotKey: values.snapshot,
      act: values.yes,
      wait: !values['no-wait'],
      intervalMs: interval * 1000,
      timeoutMinutes: timeout,
      lockTable: values['lock-table'],
      json: values.json,
    });
    if (values.json) io.out(JSON.stringify(report, null, 2));
    if (report.refused) return 1;
    if (report.dryRun) return 0;
    if (report.check) return report.check.status === 'RESTORED' ? 0 : 1;
    return report.result && report.result.failedCount === 0 ? 0 : 1;
  } finally {
    await target.close();
  }
}

export interface RestoreOptions {
  snapshotKey: string | undefined;
  act: boolean;
  wait: boolean;
  intervalMs: number;
  timeoutMinutes: number | undefined;
  lockTable: string | undefined;
  json: boolean;
}

/** The restore itself; prints as it goes unless `json`. */
export async function restore(
  workspaceId: number,
  store: SnapshotStore,
  target: Target,
  io: Io,
  options: RestoreOptions,
): Promise<RestoreReport> {
  const say = options.json ? () => {} : (line: string) => io.out(line);
  const report: RestoreReport = {
    workspaceId,
    dryRun: !options.act,
    snapshot: null,
    workspaceStatus: null,
    actions: [],
    alreadyBack: [],
    onTheWay: [],
    cannotRestore: [],
    result: null,
    check: null,
    refused: null,
  };
  const refuse = (name: string, message: string) => {
    report.refused = { name, message };
    say(`${name}: ${message}`);
    return report;
  };
  say(`cmk-rotator restore: ${options.act ? 'restoring' : 'DRY RUN (nothing is started; add --yes to act)'}`);
  say(`Against: ${target.describe}`);

  // Which snapshot: the one named, else the open pointer a stop leaves until everything is verified back.
  const pointerKey = openSnapshotKeyOf(workspaceId);
  const pointer = (await store.getDocument(pointerKey)) as
    | { snapshotKey?: unknown; executionId?: unknown }
    | undefined;
  const key =
    options.snapshotKey ?? (typeof pointer?.snapshotKey === 'string' ? pointer.snapshotKey : undefined);
  if (!key) {
    return refuse(
      'SnapshotMissing',
      `no open snapshot for workspace ${workspaceId} (${store.locate(pointerKey)} does not exist): no execution left its compute stopped, or it was restored. To restore from a given snapshot, pass --snapshot <execution name>/${workspaceId}/compute-snapshot.json`,
    );
  }
  let snapshot: ComputeSnapshot | undefined;
  try {
    const stored = await store.get(key);
    snapshot = stored && (await loadRestoreSet(store, key, { workspaceId, executionId: stored.executionId }));
  } catch (error) {
    if (error instanceof RotatorError) return refuse(error.name, error.message);
    throw error;
  }
  if (!snapshot) {
    return refuse(
      'SnapshotMissing',
      `compute snapshot ${store.locate(key)} does not exist${options.snapshotKey ? '' : ` (the open pointer ${store.locate(pointerKey)} names it)`}; check the key and the bucket's retention (snapshotRetentionDays), and restore by hand from the execution history if it is gone`,
    );
  }
  report.snapshot = {
    key,
    location: store.locate(key),
    executionId: snapshot.executionId,
    takenAt: new Date(snapshot.takenAt).toISOString(),
    from: options.snapshotKey ? '--snapshot' : 'open pointer',
    inherited: snapshot.inherited ?? [],
  };
  say(
    `Snapshot: ${report.snapshot.location} (${report.snapshot.from}; taken ${report.snapshot.takenAt} by execution ${snapshot.executionId}${report.snapshot.inherited.length > 0 ? `; includes the restore sets of ${report.snapshot.inherited.join(', ')}` : ''})`,
  );
  say(`  before the stop: ${countsText(snapshotCounts(snapshot)) || 'nothing ran'}`);

  const { databricks, settings } = target;
  const workspace = await databricks.account.getWorkspace(workspaceId);
  report.workspaceStatus = workspace.workspace_status ?? null;
  const deploymentName = workspace.deployment_name ?? snapshot.deploymentName;
  say(
    `Workspace ${workspaceId}${workspace.workspace_name ? ` (${workspace.workspace_name})` : ''} — deployment ${deploymentName}: ${workspace.workspace_status ?? 'status unknown'}`,
  );
  const api = databricks.workspace(deploymentName);
  const view = await readRestoreView(api, snapshot, settings.apiConcurrency);
  const assessment = assessRestore(snapshot, view, 'restore');
  const names = namesOf(snapshot);
  report.actions = assessment.actions.map((a) => ({
    kind: a.kind,
    id: a.id,
    ...(names.get(`${a.kind}:${a.id}`) ? { name: names.get(`${a.kind}:${a.id}`) as string } : {}),
    change: changeOf(a, view),
  }));
  const acting = new Set(assessment.actions.map((a) => `${a.kind}:${a.id}`));
  report.alreadyBack = assessment.restored.map((r) => ({ kind: r.kind, id: r.id }));
  report.onTheWay = assessment.pending
    .filter((r) => !acting.has(`${r.kind}:${r.id}`))
    .map((r) => ({ kind: r.kind, id: r.id, ...stateOf(r, view) }));
  report.cannotRestore = assessment.failed.map((f) => ({ kind: f.kind, id: f.id, why: f.why }));

  say('');
  say(options.act ? 'Restoring:' : 'Would restore:');
  if (report.actions.length === 0) say('  nothing to start or unpause');
  for (const a of report.actions) say(`  ${a.kind} ${a.id}${a.name ? ` (${a.name})` : ''}: ${a.change}`);
  if (report.onTheWay.length > 0)
    say(
      `Already on the way: ${report.onTheWay.map((r) => `${r.kind} ${r.id}${r.state ? ` (${r.state})` : ''}`).join(', ')}`,
    );
  if (report.alreadyBack.length > 0)
    say(`Already back: ${report.alreadyBack.map((r) => `${r.kind} ${r.id}`).join(', ')}`);
  if (report.cannotRestore.length > 0)
    say(`Cannot be restored: ${report.cannotRestore.map((r) => `${r.kind} ${r.id} (${r.why})`).join(', ')}`);
  if (!options.act) {
    say('');
    say('Dry run: nothing was changed. Run again with --yes to restore.');
    return report;
  }

  // Acting: never while Databricks applies a key change, never under a running execution's lock.
  if (workspace.workspace_status !== 'RUNNING') {
    return refuse(
      'WorkspaceNotRunning',
      `workspace ${workspaceId} is ${workspace.workspace_status ?? 'in an unknown state'}, not RUNNING: nothing may start while Databricks applies a key change. Run again once it is RUNNING.`,
    );
  }
  if (options.lockTable) {
    const lock = await readLock(
      new DynamoDBClient(target.region ? { region: target.region } : {}),
      options.lockTable,
      workspaceId,
    );
    const holder = lock?.holder?.S;
    const expiresAt = Number(lock?.expiresAt?.N ?? 0) * 1000;
    if (holder !== undefined && expiresAt > Date.now()) {
      return refuse(
        'WorkspaceBusy',
        `execution ${holder} holds the lock of workspace ${workspaceId} until ${new Date(expiresAt).toISOString()}: it may still be rotating it, and restoring now could start compute it keeps stopped. Stop that execution (its locks are released by the abort rule) or wait for the lease to lapse, then run again.`,
      );
    }
  } else if (!target.scenario) {
    say('Not checked whether an execution still holds the workspace (give --lock-table NAME to check).');
  }

  const deps: ComputeDeps = {
    api,
    store,
    settings: {
      apiConcurrency: settings.apiConcurrency,
      computeStopTimeoutMinutes: settings.computeStopTimeoutMinutes,
      computeRestoreTimeoutMinutes: options.timeoutMinutes ?? settings.computeRestoreTimeoutMinutes,
    },
    now: () => target.now(),
  };
  const base: RotationItem = {
    executionId: snapshot.executionId,
    workspace: {
      workspaceId,
      ...(workspace.workspace_name ? { workspaceName: workspace.workspace_name } : {}),
      deploymentName,
      region: workspace.aws_region ?? '',
      current: { managedServicesKeyConfigId: null, storageKeyConfigId: null },
      changes: { managedServices: false, storage: false },
      storageAdded: false,
      steps: [],
    },
    target: { keyArn: '', keyId: '', region: '' },
    useCases: ['MANAGED_SERVICES'],
    reuseKeyForClusterVolumes: true,
    activeRuns: 'wait',
    drainTimeoutMinutes: 60,
    emergency: false,
    storageWaitSeconds: 0,
  };
  const item: RestoreItem = {
    ...base,
    compute: {
      snapshotKey: key,
      phase: 'stopping',
      counts: snapshotCounts(snapshot),
      deadline: target.now(),
    },
  };
  const result = await restoreCompute(item, deps);
  report.result = result;
  say('');
  say(
    `Started ${countsText(result.started) || 'nothing'}${result.failedCount > 0 ? `; ${result.failedCount} failed: ${result.failed.map((f) => `${f.kind} ${f.id} (${f.error})`).join(', ')}` : ''}`,
  );
  if (!options.wait) {
    say(
      `Not waiting (--no-wait): the open pointer ${store.locate(pointerKey)} stays until a check sees everything back.`,
    );
    return report;
  }
  let last = '';
  for (;;) {
    await target.sleep(options.intervalMs);
    let check: RestoreCheckResult;
    try {
      check = await checkComputeRestored(
        { ...base, restore: result, ...(report.check ? { restoreCheck: report.check } : {}) },
        deps,
      );
    } catch (error) {
      if (error instanceof RotatorError) return refuse(error.name, error.message);
      throw error;
    }
    report.check = check;
    const line =
      check.status === 'RESTORED'
        ? `RESTORED: ${countsText(check.restored) || 'nothing to restore'}`
        : `WAITING: back ${countsText(check.restored) || 'nothing yet'}; pending ${countsText(check.pending)}${check.retrying?.length ? `; retrying ${check.retrying.map((r) => `${r.kind} ${r.id} (${r.error})`).join(', ')}` : ''}`;
    if (line !== last) say(line);
    last = line;
    if (check.status === 'RESTORED') {
      const still = await store.getDocument(pointerKey);
      say(
        still
          ? `The open pointer ${store.locate(pointerKey)} names another snapshot; left as it is.`
          : 'Everything is back; the open-snapshot pointer is removed.',
      );
      return report;
    }
  }
}

/**
 * The current state of what the snapshot would restore: the list calls restore itself reads (a cluster the
 * list no longer shows is fetched on its own), GETs only.
 */
async function readRestoreView(
  api: WorkspaceApi,
  snapshot: ComputeSnapshot,
  limit: number,
): Promise<RestoreView> {
  const set = restoreSet(snapshot);
  const [clusters, pools, warehouses, pipelines, jobs] = await Promise.all([
    set.clusters.length === 0 ? [] : api.listClusters({ cluster_sources: ['UI', 'API'] }),
    set.pools.length === 0 ? [] : api.listInstancePools(),
    set.warehouses.length === 0 ? [] : api.listWarehouses(),
    set.pipelines.length === 0 ? [] : api.listPipelines(),
    set.jobs.length === 0 ? [] : api.listJobs(),
  ]);
  const clusterMap = new Map(clusters.map((c) => [c.cluster_id, clusterInfo(c)]));
  await mapLimit(
    set.clusters.filter((c) => !clusterMap.has(c.cluster_id)),
    limit,
    async (c) => {
      const found = await orNotFound(() => api.getCluster(c.cluster_id));
      if (found) clusterMap.set(c.cluster_id, clusterInfo(found));
    },
  );
  return {
    clusters: clusterMap,
    pools: new Map(pools.map((p) => [p.instance_pool_id, poolInfo(p)])),
    warehouses: new Map(warehouses.map((w) => [w.id, warehouseInfo(w)])),
    pipelines: new Map(pipelines.map((p) => [p.pipeline_id, pipelineInfo(p)])),
    jobs: new Map(jobs.map((j) => [j.job_id, (j.settings ?? {}) as Record<string, unknown>])),
  };
}

function namesOf(snapshot: ComputeSnapshot): Map<string, string> {
  const names = new Map<string, string>();
  const set = restoreSet(snapshot);
  for (const c of set.clusters) if (c.cluster_name) names.set(`cluster:${c.cluster_id}`, c.cluster_name);
  for (const p of set.pools) names.set(`pool:${p.instance_pool_id}`, p.instance_pool_name);
  for (const w of set.warehouses) if (w.name) names.set(`warehouse:${w.id}`, w.name);
  for (const p of set.pipelines) if (p.name) names.set(`pipeline:${p.pipeline_id}`, p.name);
  for (const j of set.jobs) if (j.name) names.set(`job:${j.job_id}`, j.name);
  return names;
}

function changeOf(action: RestoreAction, view: RestoreView): string {
  switch (action.kind) {
    case 'pool': {
      const now = view.pools.get(action.id);
      return `idle settings back: min_idle_instances ${now?.min_idle_instances ?? 0} → ${action.edit.min_idle_instances ?? 0}, idle_instance_autotermination_minutes ${now?.idle_instance_autotermination_minutes ?? 'unset'} → ${action.edit.idle_instance_autotermination_minutes ?? 'unset'}`;
    }
    case 'cluster':
      return `${view.clusters.get(action.id)?.state ?? 'unknown'} → start`;
    case 'warehouse':
      return `${view.warehouses.get(action.id)?.state ?? 'unknown'} → start`;
    case 'pipeline':
      return `${view.pipelines.get(action.id)?.state ?? 'unknown'} → start an update (never a full refresh)`;
    case 'job':
      return `unpause ${Object.keys(action.settings).join(', ')}`;
  }
}

function stateOf(ref: { kind: string; id: string }, view: RestoreView): { state?: string } {
  const state =
    ref.kind === 'cluster'
      ? view.clusters.get(ref.id)?.state
      : ref.kind === 'warehouse'
        ? view.warehouses.get(ref.id)?.state
        : ref.kind === 'pipeline'
          ? view.pipelines.get(ref.id)?.state
          : undefined;
  return state === undefined ? {} : { state };
}
