import { describe, expect, it } from 'vitest';
import type { CallLogEntry } from '../../local/emulator/index.ts';
import type { Report } from '../../local/runner/report.ts';
import { runScenario } from '../../local/runner/run.ts';
import { parseScenario } from '../../local/scenario.ts';
import { baseScenario, expectSafe, type Json, NEW_KEY, OLD_KEY, run } from './harness.ts';

/** The guarantees of recovery (DESIGN §4, §6), each driven through the runner on the emulators. */

const WS1 = 1234567890123456;
const WS2 = 2234567890123456;
const PATCH = { method: 'PATCH', path: '/api/2.0/accounts/*/workspaces/*' };

const path = (e: CallLogEntry) => e.path.replace(/^\/ws\/[^/]+/, '').split('?')[0] ?? '';
const calls = (r: Report, method: string, re: RegExp) =>
  r.callLog.filter((e) => e.method === method && re.test(path(e)));
const workspace = (r: Report, id = WS1) =>
  (r.final.databricks.workspaces as Json[]).find((w) => w.workspace_id === id) as Json;
const keyOf = (r: Report, configId: unknown) =>
  (
    (r.final.databricks.keyConfigs as Json[]).find((c) => c.customer_managed_key_id === configId)
      ?.aws_key_info as Json
  )?.key_arn;
const rotations = (r: Report) => ((r.output as Json | null)?.rotations ?? []) as Json[];
const runningClusters = (r: Report, id = WS1) =>
  ((workspace(r, id).clusters as Json[]) ?? [])
    .filter((c) => ['RUNNING', 'PENDING'].includes(String(c.state)))
    .map((c) => c.cluster_id)
    .sort();

describe('Compensation cannot fail the others', () => {
  it('rotates one workspace while the other fails and its restore fails too, naming what is still stopped', async () => {
    const scenario = baseScenario({
      twoWorkspaces: true,
      databricksFaults: [
        { ...PATCH, status: 500, workspace_id: WS2 },
        { method: 'POST', path: '/api/2.1/clusters/start', status: 500, times: 10_000, workspace_id: WS2 },
      ],
      settings: { computeRestoreTimeoutMinutes: 10 },
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'two workspaces');
    expect(report.status).toBe('FAILED');
    expect(keyOf(report, workspace(report, WS1).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    expect(keyOf(report, workspace(report, WS2).managed_services_customer_managed_key_id)).toBe(OLD_KEY);
    expect(runningClusters(report, WS1)).toEqual(['w1-api', 'w1-ui']);
    // The failed workspace's error names each cluster still stopped and the snapshot.
    expect(report.error?.cause).toMatch(/2234567890123456\*/);
    expect(report.error?.cause).toMatch(/w2-ui/);
    expect(report.error?.cause).toMatch(/w2-api/);
    expect(report.error?.cause).toMatch(/s3:\/\/\S+compute-snapshot\.json/);
  });

  it('ends the iteration recorded, not aborted, when the compensation step itself keeps failing', async () => {
    const scenario = baseScenario({
      twoWorkspaces: true,
      databricksFaults: [{ ...PATCH, status: 500, workspace_id: WS2 }],
      awsFaults: [
        { service: 'lambda', operation: 'Restore compute after failure', error: 'Lambda.Unknown', times: 50 },
      ],
    });
    const report = await run(scenario);
    expect(report.status).toBe('FAILED');
    // The other workspace was not aborted.
    expect(keyOf(report, workspace(report, WS1).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    expect(runningClusters(report, WS1)).toEqual(['w1-api', 'w1-ui']);
    expect(report.error?.cause).toMatch(/compute NOT fully restored/);
    expect(report.error?.cause).toMatch(/still stopped: .*clusters: .*w2-ui/);
    expect(report.error?.cause).toMatch(/schedules still paused: jobs: 21/);
    expectSafe(scenario, report, 'compensation fails');
  });
});

describe('Never restart compute while the workspace is updating', () => {
  it('waits out a slow update after the check deadline instead of restarting during PROVISIONING', async () => {
    const scenario = baseScenario({
      timings: { workspaceUpdate: [5400, 5400] },
      settings: { workspaceUpdateTimeoutMinutes: 30, recoveryWorkspaceWaitMinutes: 180 },
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'slow update');
    const patchAt = calls(report, 'PATCH', /workspaces/)[0]?.t ?? 0;
    const starts = calls(report, 'POST', /clusters\/start|warehouses\/[^/]+\/start/);
    expect(starts.length).toBeGreaterThan(0);
    // The update takes 90 minutes: nothing starts before it is over.
    expect(Math.min(...starts.map((e) => e.t))).toBeGreaterThanOrEqual(patchAt + 5400);
    // Decided from what Databricks shows: the key did change (not "reverted"), and compute came back.
    expect(report.error?.name).toBe('WorkspaceUpdateTimedOut');
    expect(report.error?.cause).toMatch(/\[key changed; compute restored/);
    expect(keyOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
  });

  it('fails naming what stays stopped, restarting nothing, when the workspace is still PROVISIONING at the recovery deadline', async () => {
    const scenario = baseScenario({
      timings: { workspaceUpdate: [30_000, 30_000] },
      settings: { workspaceUpdateTimeoutMinutes: 20, recoveryWorkspaceWaitMinutes: 30 },
    });
    const report = await run(scenario);
    expect(report.status).toBe('FAILED');
    expect(
      calls(report, 'POST', /clusters\/start|warehouses\/[^/]+\/start|pipelines\/[^/]+\/updates/),
    ).toEqual([]);
    expect(report.error?.cause).toMatch(/WorkspaceStillUpdating|still PROVISIONING/);
    expect(report.error?.cause).toMatch(/w1-ui/);
    expect(report.error?.cause).toMatch(/schedules still paused: jobs: 11/);
    expect(report.error?.cause).toMatch(/compute NOT fully restored/);
  });
});

describe('A PATCH whose answer was lost is reconciled, not repeated', () => {
  it('does not send the PATCH again when it took effect and its answer was lost', async () => {
    const scenario = baseScenario({ databricksFaults: [{ ...PATCH, status: 0, after: true }] });
    const report = await run(scenario);
    expectSafe(scenario, report, 'lost answer');
    expect(report.status).toBe('SUCCEEDED');
    expect(calls(report, 'PATCH', /workspaces/)).toHaveLength(1);
    expect(keyOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
  });

  it('sends it once more when it never arrived and the workspace is unchanged', async () => {
    const scenario = baseScenario({ databricksFaults: [{ ...PATCH, status: 0 }] });
    const report = await run(scenario);
    expectSafe(scenario, report, 'dropped');
    expect(report.status).toBe('SUCCEEDED');
    expect(calls(report, 'PATCH', /workspaces/).map((e) => e.status)).toEqual([0, 200]);
  });

  it('is not repeated after a 5xx that Databricks did not apply: compute is restored on the old key', async () => {
    const scenario = baseScenario({ databricksFaults: [{ ...PATCH, status: 500 }] });
    const report = await run(scenario);
    expectSafe(scenario, report, '500');
    expect(report.status).toBe('FAILED');
    expect(calls(report, 'PATCH', /workspaces/).map((e) => e.status)).toEqual([500]);
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
  });

  it('reconciles a Lambda that timed out after its PATCH took effect', async () => {
    const scenario = baseScenario({
      awsFaults: [
        { service: 'lambda', operation: 'Update workspace', error: 'Sandbox.Timedout', after: true },
      ],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'lambda timeout');
    expect(report.status).toBe('SUCCEEDED');
    expect(calls(report, 'PATCH', /workspaces/).filter((e) => e.status === 200)).toHaveLength(1);
  });
});

describe('A key change refused because compute runs', () => {
  it('stops compute again and retries the update when Databricks refuses it with INVALID_STATE', async () => {
    const scenario = baseScenario({
      databricksFaults: [
        { ...PATCH, status: 400, error_code: 'INVALID_STATE', message: 'compute runs in the VPC', times: 1 },
      ],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'refused once');
    expect(report.status).toBe('SUCCEEDED');
    expect(calls(report, 'PATCH', /workspaces/).map((e) => e.status)).toEqual([400, 200]);
  });

  it('gives up after three refusals, restoring compute on the old key', async () => {
    const scenario = baseScenario({
      databricksFaults: [{ ...PATCH, status: 400, error_code: 'INVALID_STATE', times: 10 }],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'refused always');
    expect(report.status).toBe('FAILED');
    expect(calls(report, 'PATCH', /workspaces/)).toHaveLength(4);
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
  });
});

describe('What came back during the stop is restored too', () => {
  it('restores a running cluster that the first list answer missed', async () => {
    const scenario = baseScenario({
      databricksFaults: [{ kind: 'shortList', path: '/api/2.1/clusters/list', omit: ['w1-api'], times: 1 }],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'short list');
    expect(report.status).toBe('SUCCEEDED');
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
    // It was stopped before the PATCH all the same.
    const patchAt = calls(report, 'PATCH', /workspaces/)[0]?.t ?? 0;
    const stops = calls(report, 'POST', /clusters\/delete/).filter(
      (e) => (e.body as Json).cluster_id === 'w1-api' && e.t < patchAt,
    );
    expect(stops.length).toBeGreaterThan(0);
  });

  it('restores a cluster a user started during the stop, which was not running before', async () => {
    const scenario = baseScenario({
      databricksFaults: [{ kind: 'startCluster', cluster_id: 'w1-off', afterStopSeconds: 5 }],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'user start');
    expect(report.status).toBe('SUCCEEDED');
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-off', 'w1-ui']);
    // Stopped again before the PATCH, and reported in the output with when it was seen.
    const patchAt = calls(report, 'PATCH', /workspaces/)[0]?.t ?? 0;
    const stops = calls(report, 'POST', /clusters\/delete/).filter(
      (e) => (e.body as Json).cluster_id === 'w1-off' && e.t < patchAt,
    );
    expect(stops.length).toBeGreaterThan(0);
    const cameBack = JSON.stringify(rotations(report)[0]?.cameBackDuringWindow);
    expect(cameBack).toContain('w1-off');
    expect(cameBack).toContain('seenAt');
  });
});

describe('Nothing starts between the stop and the end of the storage wait', () => {
  it('stops a cluster a user starts during the storage wait, reports it, and restores it afterwards', async () => {
    const scenario = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: 20 },
      timings: { workspaceUpdate: [120, 120], clusterTerminate: [30, 30] },
      databricksFaults: [{ kind: 'startCluster', cluster_id: 'w1-off', afterStopSeconds: 800 }],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'storage wait');
    expect(report.status).toBe('SUCCEEDED');
    const starts = calls(report, 'POST', /clusters\/start/);
    const guardEnds = report.states.filter((s) => s.name === 'Keep compute stopped during the storage wait');
    expect(guardEnds.length).toBeGreaterThan(5);
    const started = (report.output as Json).rotations as Json[];
    expect(JSON.stringify(started[0]?.cameBackDuringWindow)).toContain('w1-off');
    // The product's own starts all come after the storage wait.
    const runningAt = report.states.filter((s) => s.name === 'Check workspace').at(-1)?.enteredAt ?? 0;
    for (const s of starts) expect(s.t).toBeGreaterThanOrEqual(runningAt + 20 * 60 - 1);
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-off', 'w1-ui']);
  });
});

describe('Blind to what runs', () => {
  it('terminates again what ran before when the cluster list keeps failing and a user starts a cluster during the update', async () => {
    // Prepare: after the stop, every cluster list answers 500; a user starts w1-ui 46 s after it stopped
    const scenario = baseScenario({
      timings: { workspaceUpdate: [60, 60] },
      databricksFaults: [
        { method: 'GET', path: '/api/2.1/clusters/list', status: 500, times: 1000, skip: 5 },
        { kind: 'startCluster', cluster_id: 'w1-ui', afterStopSeconds: 46 },
      ],
    });
    // Act
    const report = await run(scenario);
    // Assess: nothing the snapshot knew ran unnoticed through the window, even unseen
    expectSafe(scenario, report, 'cluster list down');
    const started = report.callLog.find((e) => e.method === 'POST' && path(e) === '/api/2.1/clusters/start');
    expect(started).toBeUndefined();
    const terminations = calls(report, 'POST', /clusters\/delete/).filter((e) =>
      JSON.stringify(e.body).includes('w1-ui'),
    );
    expect(terminations.length).toBeGreaterThan(1);
  });
});

describe('Blind to what runs, job clusters too', () => {
  it('terminates again, unseen, a job cluster someone restarts while the cluster list keeps failing (chaos seed 4242)', async () => {
    // Prepare: a running job cluster; once the stop is confirmed (the snapshot's and the check's lists
    // answer; the STOPPED check lists every kind itself) every cluster list answers 500; it is started again 61 s after the stop, while the
    // workspace updates. (It terminates in 5 s, so whenever the poll schedule looks first, one check confirms it.)
    const raw = JSON.parse(
      JSON.stringify(
        baseScenario({
          timings: { workspaceUpdate: [60, 180], clusterTerminate: [5, 5] },
          settings: { storageWaitMinutes: 5, computeRestoreTimeoutMinutes: 20 },
          databricksFaults: [
            { method: 'GET', path: '/api/2.1/clusters/list', status: 500, times: 1000, skip: 2 },
          ],
        }),
      ),
    ) as { databricks: { workspaces: Array<{ clusters: Json[] }>; faults: Json[] } };
    raw.databricks.faults.push({ kind: 'startCluster', cluster_id: 'w1-job', afterStopSeconds: 61 });
    // The workspace runs one job cluster and nothing else (as in the chaos run that found it).
    Object.assign(raw.databricks.workspaces[0] ?? {}, {
      clusters: [{ cluster_id: 'w1-job', cluster_name: 'job-run', state: 'RUNNING', cluster_source: 'JOB' }],
      warehouses: [],
      instancePools: [],
      jobs: [],
      pipelines: [],
      runs: [],
    });
    (raw as unknown as { input: Json }).input.activeRuns = 'cancel';
    (raw as unknown as { databricks: Json }).databricks.seed = 15;
    const scenario = parseScenario(raw);
    // Act
    const report = await run(scenario);
    // Assess: nothing is left running, and the result names it as stopped again without being seen
    expectSafe(scenario, report, 'job cluster restarted unseen');
    expect(JSON.stringify(report.output)).toContain('UNSEEN: stopped again while its list could not be read');
    const terminations = calls(report, 'POST', /clusters\/delete/).filter((e) =>
      JSON.stringify(e.body).includes('w1-job'),
    );
    expect(terminations.length).toBeGreaterThan(1);
  });
});

describe('Restore retries what can still come back', () => {
  it('retries starts that failed with 500, 409 and exhausted 429s, and succeeds', async () => {
    const scenario = baseScenario({
      databricksFaults: [
        { method: 'POST', path: '/api/2.1/clusters/start', status: 500, times: 2 },
        {
          method: 'POST',
          path: '/api/2.1/clusters/start',
          status: 409,
          error_code: 'RESOURCE_CONFLICT',
          times: 1,
        },
        {
          method: 'POST',
          path: '/api/2.0/sql/warehouses/*/start',
          status: 429,
          retryAfterSeconds: 1,
          times: 12,
        },
      ],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'retries');
    expect(report.status).toBe('SUCCEEDED');
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
  });

  it('names each resource still not running at the deadline with its last error', async () => {
    const scenario = baseScenario({
      databricksFaults: [
        { method: 'POST', path: '/api/2.1/clusters/start', status: 500, message: 'capacity', times: 10_000 },
      ],
      settings: { computeRestoreTimeoutMinutes: 10 },
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'deadline');
    expect(report.status).toBe('FAILED');
    expect(report.error?.cause).toMatch(/w1-ui \(.*capacity/);
    expect(report.error?.cause).toMatch(/w1-api \(.*capacity/);
    expect(report.error?.cause).not.toMatch(/unknown:/);
  });
});

describe('The storage wait after a failure', () => {
  it('is guarded too: a cluster a user starts while recovery waits out the storage key is stopped again', async () => {
    const scenario = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: 20 },
      timings: { workspaceUpdate: [120, 120], clusterTerminate: [30, 30] },
      databricksFaults: [{ kind: 'startCluster', cluster_id: 'w1-off', afterStopSeconds: 900 }],
      // The normal guard fails for good: recovery takes over with the storage key already applied.
      awsFaults: [
        {
          service: 'lambda',
          operation: 'Keep compute stopped during the storage wait',
          error: 'Lambda.Unknown',
          times: 20,
        },
      ],
    });
    const report = await run(scenario);
    expectSafe(scenario, report, 'recovery storage wait');
    expect(report.states.some((s) => s.name === 'Keep compute stopped before restoring')).toBe(true);
    expect(report.error?.cause).toMatch(/\[key changed; compute restored/);
  });
});

describe('A workspace execution that ends without a result', () => {
  it('is named NOT restored with where its snapshot is, and the next execution restores what it left stopped', async () => {
    // Prepare: the workspace's own execution times out (States.Timeout) while its compute is stopped —
    // the update takes an hour, the child may run 20 minutes; four hours later the rotation is retried.
    const once = baseScenario({ timings: { workspaceUpdate: [3600, 3600] } });
    const scenario = {
      ...once,
      input: undefined,
      executions: [
        { input: once.input, startAtSeconds: 0, name: 'exec-1' },
        { input: once.input, startAtSeconds: 4 * 3600, name: 'exec-2' },
      ],
    };
    // Act
    const report = await runScenario(scenario, {
      executionTimeoutSecondsOf: { 'rotate-one-workspace': 20 * 60 },
    });
    // Assess: the parent of the first says which workspace, that it is not restored and where to look
    const first = report.executions.find((e) => e.name === 'exec-1');
    expect(first?.status).toBe('FAILED');
    expect(first?.error?.cause).toContain(`${WS1}*`);
    expect(first?.error?.cause).toMatch(/States\.TaskFailed/);
    expect(first?.error?.cause).toContain(`exec-1/${WS1}/compute-snapshot.json`);
    // …its cause stays small (the child's own Cause is not copied)
    expect(first?.error?.cause.length).toBeLessThan(4_000);
    // The second finds the workspace on the new key with its compute still stopped, and restores it
    const second = report.executions.find((e) => e.name === 'exec-2');
    expect(second?.status, second?.error?.cause).toBe('SUCCEEDED');
    expect(keyOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
    expectSafe(scenario, report, 'child timed out, retried');
  });
});

describe('An execution that ends in the middle of the storage wait', () => {
  it('leaves the rest of the wait to the next execution, which restores nothing before it is over', async () => {
    // Prepare: a storage key is added; the workspace's own execution times out 15 minutes in, in the
    // middle of the 25-minute storage wait; a new execution starts 9 minutes later.
    const once = baseScenario({
      storage: true,
      settings: { storageWaitMinutes: 25 },
      timings: { workspaceUpdate: [120, 120], clusterTerminate: [30, 30] },
    });
    const scenario = {
      ...once,
      input: undefined,
      executions: [
        { input: once.input, startAtSeconds: 0, name: 'exec-1' },
        { input: once.input, startAtSeconds: 24 * 60, name: 'exec-2' },
      ],
    };
    // Act
    const report = await runScenario(scenario, {
      executionTimeoutSecondsOf: { 'rotate-one-workspace': 15 * 60 },
    });
    // Assess: the second restores the compute the first left stopped…
    const second = report.executions.find((e) => e.name === 'exec-2');
    expect(second?.status, second?.error?.cause).toBe('SUCCEEDED');
    expect(runningClusters(report)).toEqual(['w1-api', 'w1-ui']);
    // …but not before the storage wait the first began is over (the runner's window invariant)
    expectSafe(scenario, report, 'execution ended during the storage wait');
    const starts = calls(report, 'POST', /\/clusters\/start$/);
    expect(starts.length).toBeGreaterThan(0);
  });
});
