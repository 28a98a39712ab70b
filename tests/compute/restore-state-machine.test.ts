import { describe, expect, it } from 'vitest';
import type { Scenario } from '../../local/scenario.ts';
import { baseScenario, expectSafe, NEW_KEY, OLD_KEY, run } from '../recovery/harness.ts';

/**
 * The restore path of the real state machine with the real handlers, on virtual time: transient faults
 * during the restore are waited out until the restore deadline (issue 14 point 7), and an execution that
 * stopped nothing restores what an earlier one left stopped (DESIGN §6.4).
 */

type Json = Record<string, unknown>;

const workspace = (report: Awaited<ReturnType<typeof run>>) =>
  (report.final.databricks.workspaces as Json[])[0] as Json;

/** What of workspace w1 is not as before the rotation (see tests/recovery/harness.ts workspaceResources). */
function notRestored(report: Awaited<ReturnType<typeof run>>): string[] {
  const w = workspace(report);
  const out: string[] = [];
  for (const c of w.clusters as Json[])
    if (c.cluster_id !== 'w1-off' && !['RUNNING', 'PENDING', 'RESIZING'].includes(String(c.state)))
      out.push(String(c.cluster_id));
  for (const wh of w.warehouses as Json[])
    if (!['RUNNING', 'STARTING'].includes(String(wh.state))) out.push(String(wh.id));
  for (const p of w.pipelines as Json[])
    if (['IDLE', 'FAILED', 'STOPPING'].includes(String(p.state))) out.push(String(p.pipeline_id));
  for (const p of w.instancePools as Json[])
    if (p.min_idle_instances !== 1) out.push(String(p.instance_pool_id));
  for (const j of w.jobs as Json[])
    if (((j.settings as Json).schedule as Json).pause_status !== 'UNPAUSED')
      out.push(`job ${String(j.job_id)}`);
  return out;
}

const keyOf = (report: Awaited<ReturnType<typeof run>>, configId: unknown) =>
  (
    (report.final.databricks.keyConfigs as Json[]).find((c) => c.customer_managed_key_id === configId)
      ?.aws_key_info as Json
  )?.key_arn;

/** The same rotation started twice: `exec-1` now, `exec-2` four hours later. */
function twice(scenario: Scenario): Scenario {
  return {
    ...scenario,
    input: undefined,
    executions: [
      { input: scenario.input, startAtSeconds: 0, name: 'exec-1' },
      { input: scenario.input, startAtSeconds: 4 * 3600, name: 'exec-2' },
    ],
  };
}

describe('Restore in the state machine', () => {
  it('waits out a burst of S3 SlowDown answers on the snapshot and restores everything', async () => {
    // The first reads (stop, its checks) pass; then 12 reads answer SlowDown, during the restore.
    const scenario = baseScenario({
      awsFaults: [{ service: 's3', operation: 'GetObject', error: 'SlowDown', skip: 10, times: 12 }],
    });
    const report = await run(scenario);
    expect(report.status, report.error?.cause.slice(0, 1500)).toBe('SUCCEEDED');
    expect(keyOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(NEW_KEY);
    expect(notRestored(report)).toEqual([]);
    expectSafe(scenario, report, 's3 burst');
  });

  it('restores everything else while jobs/list answers 503, and the schedule once it answers again', async () => {
    // The snapshot reads jobs/list once; the next 60 calls (all during the restore) answer 503.
    const scenario = baseScenario({
      databricksFaults: [{ method: 'GET', path: '/api/2.2/jobs/list', status: 503, skip: 1, times: 60 }],
    });
    const report = await run(scenario);
    expect(report.status, report.error?.cause.slice(0, 1500)).toBe('SUCCEEDED');
    expect(notRestored(report)).toEqual([]);
    // The clusters were started while jobs/list still answered 503, not after the outage.
    const calls = report.callLog;
    const lastOutage = Math.max(
      ...calls.filter((c) => c.path.startsWith('/api/2.2/jobs/list') && c.status === 503).map((c) => c.t),
    );
    const firstStart = Math.min(
      ...calls
        .filter((c) => c.path.startsWith('/api/2.1/clusters/start') && c.status === 200)
        .map((c) => c.t),
    );
    expect(firstStart).toBeLessThan(lastOutage);
    expectSafe(scenario, report, 'jobs/list 503');
  });

  it('restores what an earlier execution left stopped when a new one fails before its own stop', async () => {
    // exec-1: the PATCH fails and every cluster start fails until its restore deadline, leaving w1-ui and
    // w1-api stopped. exec-2: fails registering the key configuration, before its own stop.
    const scenario = twice(
      baseScenario({
        databricksFaults: [
          { method: 'PATCH', path: '/api/2.0/accounts/*/workspaces/*', status: 500, times: 1 },
          { method: 'POST', path: '/api/2.1/clusters/start', status: 500, message: 'capacity', times: 12 },
        ],
        awsFaults: [
          {
            service: 'lambda',
            operation: 'Register key configuration',
            error: 'KeyConfigRejected',
            skip: 1,
            times: 100,
          },
        ],
        settings: { computeRestoreTimeoutMinutes: 10 },
      }),
    );
    const report = await run(scenario);
    const [first, second] = report.executions;
    expect(first?.error?.cause).toMatch(/compute NOT fully restored.*w1-ui/);
    expect(second?.status).toBe('FAILED');
    expect(keyOf(report, workspace(report).managed_services_customer_managed_key_id)).toBe(OLD_KEY);
    // exec-2 brought back what exec-1 left stopped, so its "compute restored" is true.
    expect(second?.error?.cause).toMatch(/compute restored to its pre-rotation state/);
    expect(notRestored(report)).toEqual([]);
  });

  it('names what an earlier execution left stopped when a new one that stopped nothing cannot restore it', async () => {
    const scenario = twice(
      baseScenario({
        databricksFaults: [
          { method: 'PATCH', path: '/api/2.0/accounts/*/workspaces/*', status: 500, times: 1 },
          {
            method: 'POST',
            path: '/api/2.1/clusters/start',
            status: 500,
            message: 'capacity',
            times: 100_000,
          },
        ],
        awsFaults: [
          {
            service: 'lambda',
            operation: 'Register key configuration',
            error: 'KeyConfigRejected',
            skip: 1,
            times: 100,
          },
        ],
        settings: { computeRestoreTimeoutMinutes: 10 },
      }),
    );
    const report = await run(scenario);
    const second = report.executions[1];
    expect(notRestored(report)).toEqual(['w1-ui', 'w1-api']);
    expect(second?.error?.cause).toMatch(/compute NOT fully restored/);
    expect(second?.error?.cause).toMatch(/w1-ui/);
    expect(second?.error?.cause).toMatch(/w1-api/);
    expect(second?.error?.cause).not.toMatch(/compute restored to its pre-rotation state/);
  });
});
