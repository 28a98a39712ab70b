import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RestoreReport } from '../../cli/restore.ts';
import type { ComputeSnapshot } from '../../lib/compute/model.ts';
import { FileSnapshotStore, openSnapshotKeyOf } from '../../lib/compute/snapshot-store.ts';
import { cli, mutating, requests, scenarioPath } from './helpers.ts';

/**
 * `cmk-rotator restore` against the emulator: the workspace of rotate-managed-services as an execution that
 * died after "Stop compute" left it (its all-purpose clusters terminated, the bi warehouse stopped, job 11's
 * schedule paused), and that execution's snapshot and open pointer in a snapshot directory.
 */
const WS = 1234567890123456;
const EXECUTION = 'manual-1234567890123456-0123456789ab';
const KEY = `${EXECUTION}/${WS}/compute-snapshot.json`;
const STOPPED_BY_US = { code: 'USER_REQUEST', type: 'SUCCESS' };

let dir: string;
let scenarioFile: string;
let snapshots: string;

interface Json {
  [k: string]: unknown;
}

/** The shipped scenario with its compute as a stop left it; `status` sets the workspace's status. */
function writeScenario(status = 'RUNNING'): string {
  const scenario = JSON.parse(readFileSync(scenarioPath('rotate-managed-services'), 'utf8')) as Json;
  const ws = ((scenario.databricks as Json).workspaces as Json[])[0] as Json;
  ws.workspace_status = status;
  for (const c of ws.clusters as Json[]) {
    c.state = 'TERMINATED';
    c.termination_reason = STOPPED_BY_US;
  }
  for (const w of ws.warehouses as Json[]) if (w.id === 'a1b2c3d4e5f60001') w.state = 'STOPPED';
  for (const j of ws.jobs as Json[])
    if (j.job_id === 11) ((j.settings as Json).schedule as Json).pause_status = 'PAUSED';
  ws.runs = [];
  for (const p of ws.pipelines as Json[]) p.state = 'IDLE';
  const file = join(dir, `scenario-${status}.json`);
  writeFileSync(file, JSON.stringify({ ...scenario, timeScale: 600 }));
  return file;
}

/** What ran before the stop: two all-purpose clusters, the bi warehouse, job 11's schedule (and a job cluster). */
function snapshot(): ComputeSnapshot {
  return {
    version: 1,
    executionId: EXECUTION,
    workspaceId: WS,
    deploymentName: 'acme-prod',
    takenAt: Date.UTC(2026, 0, 1),
    clusters: [
      {
        cluster_id: '1129-063001-demo01',
        cluster_name: 'etl-shared',
        state: 'RUNNING',
        cluster_source: 'UI',
      },
      {
        cluster_id: '1129-063002-demo02',
        cluster_name: 'data-science',
        state: 'RUNNING',
        cluster_source: 'UI',
      },
      {
        cluster_id: '1129-063007-demo07',
        cluster_name: 'job-nightly-run-901',
        state: 'RUNNING',
        cluster_source: 'JOB',
      },
      {
        cluster_id: '1129-063004-demo04',
        cluster_name: 'bi-adhoc',
        state: 'TERMINATED',
        cluster_source: 'UI',
      },
    ],
    pools: [],
    warehouses: [
      {
        id: 'a1b2c3d4e5f60001',
        name: 'bi',
        state: 'RUNNING',
        warehouse_type: 'PRO',
        enable_serverless_compute: false,
      },
    ],
    jobs: [
      {
        job_id: 11,
        name: 'nightly-etl',
        schedule: { quartz_cron_expression: '0 0 2 * * ?', timezone_id: 'UTC', pause_status: 'UNPAUSED' },
      },
    ],
    runs: [],
    pipelines: [],
  };
}

async function writeSnapshot(): Promise<void> {
  const store = new FileSnapshotStore(snapshots);
  await store.putIfAbsent(KEY, snapshot());
  await store.putDocument(openSnapshotKeyOf(WS), {
    snapshotKey: KEY,
    executionId: EXECUTION,
    workspaceId: WS,
    since: 0,
  });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cmk-rotator-restore-'));
  snapshots = join(dir, 'snapshots');
  scenarioFile = writeScenario();
  await writeSnapshot();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const restore = (...extra: string[]) =>
  cli([
    'restore',
    '--workspace',
    String(WS),
    '--scenario',
    scenarioFile,
    '--snapshot-dir',
    snapshots,
    ...extra,
  ]);

describe('cmk-rotator restore', () => {
  it('is a dry run by default: says what it would start and unpause, and only reads', async () => {
    const run = await restore('--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as RestoreReport;
    expect(report.dryRun).toBe(true);
    expect(report.snapshot).toMatchObject({ key: KEY, from: 'open pointer', executionId: EXECUTION });
    expect(report.workspaceStatus).toBe('RUNNING');
    expect(report.actions).toEqual([
      { kind: 'cluster', id: '1129-063001-demo01', name: 'etl-shared', change: 'TERMINATED → start' },
      { kind: 'cluster', id: '1129-063002-demo02', name: 'data-science', change: 'TERMINATED → start' },
      { kind: 'warehouse', id: 'a1b2c3d4e5f60001', name: 'bi', change: 'STOPPED → start' },
      { kind: 'job', id: '11', name: 'nightly-etl', change: 'unpause schedule' },
    ]);
    expect(report.result).toBeNull();
    // Nothing but reads reached the emulator, and nothing changed there.
    expect(mutating(run)).toEqual([]);
    const state = run.target?.scenario?.emulator.state() as { workspaces: Array<{ clusters: Json[] }> };
    expect(state.workspaces[0]?.clusters.every((c) => c.state === 'TERMINATED')).toBe(true);
    expect(existsSync(join(snapshots, openSnapshotKeyOf(WS)))).toBe(true);
  });

  it('prints the dry run as text', async () => {
    const run = await restore();
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('DRY RUN (nothing is started; add --yes to act)');
    expect(run.stdout).toContain(
      `Snapshot: ${join(snapshots, KEY)} (open pointer; taken 2026-01-01T00:00:00.000Z by execution ${EXECUTION})`,
    );
    expect(run.stdout).toContain('  cluster 1129-063001-demo01 (etl-shared): TERMINATED → start');
    expect(run.stdout).toContain('  job 11 (nightly-etl): unpause schedule');
    expect(run.stdout).toContain('Dry run: nothing was changed. Run again with --yes to restore.');
  });

  it('with --yes starts exactly what the snapshot says ran, waits until it runs, and closes the pointer', async () => {
    const run = await restore('--yes', '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as RestoreReport;
    expect(report.result?.started).toEqual({ clusters: 2, pools: 0, warehouses: 1, pipelines: 0, jobs: 1 });
    expect(report.check?.status).toBe('RESTORED');
    const calls = mutating(run);
    expect(calls.filter((c) => c === 'POST /api/2.1/clusters/start')).toHaveLength(2);
    expect(calls).toContain('POST /api/2.0/sql/warehouses/a1b2c3d4e5f60001/start');
    expect(calls).toContain('POST /api/2.2/jobs/update');
    // Only the two all-purpose clusters that ran: not the job cluster, not the one that was already stopped.
    const starts = (run.target?.scenario?.emulator.callLog() ?? [])
      .filter((e) => e.path === '/api/2.1/clusters/start')
      .map((e) => (e.body as { cluster_id: string }).cluster_id);
    expect(starts.sort()).toEqual(['1129-063001-demo01', '1129-063002-demo02']);
    const state = run.target?.scenario?.emulator.state() as {
      workspaces: Array<{ clusters: Json[]; jobs: Array<{ job_id: number; settings: Json }> }>;
    };
    const clusters = Object.fromEntries(
      state.workspaces[0]?.clusters.map((c) => [c.cluster_id, c.state]) ?? [],
    );
    expect(clusters['1129-063001-demo01']).toBe('RUNNING');
    expect(clusters['1129-063007-demo07']).toBe('TERMINATED');
    expect(clusters['1129-063004-demo04']).toBe('TERMINATED');
    const job = state.workspaces[0]?.jobs.find((j) => j.job_id === 11);
    expect((job?.settings.schedule as Json | undefined)?.pause_status).toBe('UNPAUSED');
    expect(existsSync(join(snapshots, openSnapshotKeyOf(WS)))).toBe(false);
  });

  it('refuses to start anything while the workspace is not RUNNING', async () => {
    scenarioFile = writeScenario('PROVISIONING');
    const run = await restore('--yes');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'WorkspaceNotRunning: workspace 1234567890123456 is PROVISIONING, not RUNNING',
    );
    expect(mutating(run)).toEqual([]);
  });

  it('says so when there is no open snapshot, and refuses a snapshot of another workspace', async () => {
    rmSync(join(snapshots, openSnapshotKeyOf(WS)));
    const none = await restore('--yes');
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('SnapshotMissing: no open snapshot for workspace 1234567890123456');
    expect(requests(none)).toEqual([]);

    const other = { ...snapshot(), workspaceId: 42 };
    await new FileSnapshotStore(snapshots).putIfAbsent('elsewhere/compute-snapshot.json', other);
    const wrong = await restore('--snapshot', 'elsewhere/compute-snapshot.json', '--yes');
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain('SnapshotMismatch');
    expect(mutating(wrong)).toEqual([]);
  });

  it('answers command-line mistakes with exit code 2', async () => {
    const noStore = await cli(['restore', '--workspace', String(WS)]);
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toContain('name the snapshot store');
    const typo = await cli(['restore', '--workspace', String(WS), '--bucket', 'b', '--snaphsot', 'k']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean --snapshot?');
    const badId = await cli(['restore', '--workspace', 'prod', '--bucket', 'b']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('--workspace: "prod" is not a workspace id');
  });
});
