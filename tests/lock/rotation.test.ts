import { describe, expect, it } from 'vitest';
import type { Report } from '../../local/runner/report.ts';
import { type RunOptions, runScenario } from '../../local/runner/run.ts';
import { loadScenario, parseScenario, type Scenario } from '../../local/scenario.ts';

/**
 * One rotation per workspace (DESIGN §6.6), through the runner: several executions on the same clock and
 * emulators, the lock in an embedded DynamoDB (dynalite), the per-workspace child executions and Step
 * Functions' quotas as AWS counts them. Assertions read the emulators' record, not the product's word.
 */

process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';

type Json = Record<string, unknown>;
const scenarioFile = (name: string) =>
  new URL(`../../local/scenarios/${name}.json`, import.meta.url).pathname;

async function twoExecutions(
  name: string,
  gapSeconds: number,
  second: Json = {},
  names: Json[] = [{ name: 'first' }, { name: 'second' }],
  options: RunOptions = {},
): Promise<Report> {
  const raw = JSON.parse(JSON.stringify(await loadScenario(scenarioFile(name)))) as Json;
  const input = raw.input as Json;
  delete raw.input;
  raw.executions = [
    { input, startAtSeconds: 0, ...names[0] },
    { input: { ...input, ...second }, startAtSeconds: gapSeconds, ...names[1] },
  ];
  return runScenario(parseScenario(raw), options);
}

const accepted = (r: Report, method: string, path: RegExp) =>
  r.callLog.filter((e) => e.method === method && path.test(e.path) && e.status < 400);

describe('Two executions on one workspace', () => {
  it.each([1, 30, 600])(
    'one rotates, the other touches nothing, %i s apart',
    async (gap) => {
      // Act
      const report = await twoExecutions('rotate-managed-services', gap);
      // Assess
      expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
      expect(accepted(report, 'PATCH', /\/workspaces\//)).toHaveLength(1);
      const [first, second] = report.executions;
      expect(first).toMatchObject({ name: 'first', status: 'SUCCEEDED' });
      expect(second?.status).toBe('FAILED');
      // Busy (the lock) while the first runs; once the first has sent its PATCH, the plan already refuses a
      // workspace that is updating. Either way the second names why and stopped nothing.
      expect(second?.error?.name).toMatch(/^(WorkspaceBusy|WorkspaceNotRunning)$/);
      if (second?.error?.name === 'WorkspaceBusy') {
        expect(second.error.cause).toContain('is locked by execution');
        expect(second.error.cause).toContain('(the workspace execution of rotation arn:aws:states:');
        expect(second.error.cause).toContain(':execution:rotate-workspace-key:first)');
      }
      // Compute was stopped and restored by one execution only: the second neither stopped nor restored anything.
      const ran = (state: string) => report.states.filter((s) => s.name === state).length;
      expect(ran('Stop compute')).toBe(1);
      expect(ran('Restore compute')).toBe(1);
      expect(ran('Restore compute after failure')).toBe(0);
    },
    120_000,
  );

  it('one rotates with the runner’s default execution names too (their ARNs differ only at the end)', async () => {
    // Act: no names, so the runner names them local-<scenario>-1 and -2. The children's names hash the
    // parents' ARNs: a wrong hash (aws-local-stepfunctions' own MD5) gave both children one name, and
    // the second execution took the first one's lock as its own.
    const report = await twoExecutions('rotate-managed-services', 30, {}, [{}, {}]);
    // Assess
    const [first, second] = report.executions;
    expect(first?.status).toBe('SUCCEEDED');
    expect(second?.error?.name).toBe('WorkspaceBusy');
    expect(second?.error?.cause).toContain(
      '[key change not confirmed; nothing touched: no compute was stopped]',
    );
    expect(accepted(report, 'POST', /clusters\/delete/).length).toBeGreaterThan(0);
    expect(report.states.filter((s) => s.name === 'Stop compute')).toHaveLength(1);
    expect(report.states.filter((s) => s.name === 'Restore compute')).toHaveLength(1);
  }, 120_000);
});

describe('A parent execution that ends while its workspace execution runs', () => {
  it('stops the workspace execution with it (Step Functions stops a .sync child)', async () => {
    // Prepare: each rotation times out after 200 s; the first one's workspace execution is then waiting
    // for compute to stop, and a second rotation of the workspace starts at 250 s
    // Act
    const report = await twoExecutions('rotate-managed-services', 250, {}, undefined, {
      executionTimeoutSecondsOf: { 'rotate-workspace-key': 200 },
    });
    // Assess: before, the first one's workspace execution went on alone (its next check at 243 s), its
    // lock already freed by the abort rule, so the second took the workspace while it still ran
    expect(report.executions[0]?.error?.name).toBe('States.Timeout');
    expect(report.states.filter((st) => st.enteredAt > 200.5 && st.enteredAt < 250)).toEqual([]);
    expect(report.states.some((st) => st.name === 'Wait for the stop to take effect')).toBe(true);
  }, 120_000);
});

describe('waitForLock', () => {
  it('waits for the execution holding the workspace, then plans again from what the workspace shows', async () => {
    // Act: the second starts 30 s after the first, asking to wait
    const report = await twoExecutions('rotate-managed-services', 30, { waitForLock: true });
    // Assess: it waited, then found the workspace already on the target key: one PATCH, one stop, both succeed
    expect(report.executions.map((e) => e.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(accepted(report, 'PATCH', /\/workspaces\//)).toHaveLength(1);
    expect(report.states.filter((s) => s.name === 'Stop compute')).toHaveLength(1);
    const waits = report.states.filter((s) => s.name === 'Wait for the locked workspaces');
    expect(waits.length).toBeGreaterThan(5);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  }, 120_000);
});

describe('Duplicate EventBridge deliveries', () => {
  it('start one rotation: the second delivery of the same event ends as a no-op saying so', async () => {
    // Act
    const report = await twoExecutions('key-disabled-emergency', 2);
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(accepted(report, 'PATCH', /\/workspaces\//)).toHaveLength(1);
    expect(report.executions.map((e) => e.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
  }, 120_000);
});

/** `count` workspaces of a few resources each, all on the scenario's managed-services key. */
async function manyWorkspaces(count: number): Promise<Scenario> {
  const raw = JSON.parse(
    JSON.stringify(await loadScenario(scenarioFile('rotate-managed-services'))),
  ) as Json & {
    databricks: Json & { workspaces: Json[] };
    input: Json;
    settings: Json;
  };
  const [template] = raw.databricks.workspaces;
  const ids = Array.from({ length: count }, (_, i) => 2_000_000_000_000_000 + i);
  raw.databricks.workspaces = ids.map((id, i) => ({
    workspace_id: id,
    workspace_name: `ws-${i}`,
    deployment_name: `ws-${i}`,
    aws_region: template?.aws_region,
    workspace_status: 'RUNNING',
    managed_services_customer_managed_key_id: template?.managed_services_customer_managed_key_id,
    clusters: [
      { cluster_id: `c-${i}-a`, cluster_name: 'etl', state: 'RUNNING', cluster_source: 'UI' },
      { cluster_id: `c-${i}-b`, cluster_name: 'adhoc', state: 'TERMINATED', cluster_source: 'UI' },
    ],
    warehouses: [{ id: `wh${i}`, name: 'bi', state: 'RUNNING', warehouse_type: 'PRO' }],
  }));
  raw.databricks.rateLimits = { workspace: null, account: null, token: null };
  raw.input = { ...raw.input, workspaceIds: ids };
  raw.settings = { ...raw.settings, workspaceIds: ids, maxConcurrentWorkspaces: 25 };
  return parseScenario(raw);
}

describe('Scale', () => {
  it('rotates 250 workspaces sharing one key, every execution within Step Functions’ quotas', async () => {
    // Act
    const report = await runScenario(await manyWorkspaces(250));
    // Assess
    expect(report.status).toBe('SUCCEEDED');
    expect(accepted(report, 'PATCH', /\/workspaces\//)).toHaveLength(250);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expect(report.historyEvents).toBeLessThan(25_000);
    expect(report.maxStatePayloadBytes).toBeLessThan(256 * 1024);
    console.log('250 workspaces:', {
      historyEvents: report.historyEvents,
      maxStatePayloadBytes: report.maxStatePayloadBytes,
      simulatedSeconds: report.simulatedSeconds,
      apiCalls: report.apiCalls.total,
    });
  }, 600_000);
});
